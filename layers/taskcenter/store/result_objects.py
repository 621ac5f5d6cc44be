"""The results bucket behind a small interface (docs/results.md, docs/repositories.md): the one module that
talks to S3. Services keep and serve results through `current()`, an `ResultObjects`; tests put the
in-memory twin (store/memory_results.py) in place with `use(...)`; tests/result_objects_contract.py runs
against both.

An upload streams: the body is an iterator of chunks, handed to boto3's managed transfer (s3transfer) as
a non-seekable file, which sends one multipart part at a time (PART_BYTES) and a single PutObject for a
small file. The process holds about one part, whatever the file's size (`make bench`, bench_result_copy).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from taskcenter import config

PART_BYTES = 8 * 1024 * 1024  # S3's multipart parts are 5 MiB at least (but the last)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


class ResultObjects(Protocol):
    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> StoredObject:
        """Write `chunks` as the object `key`, streamed (about one part in memory). An exception from
        `chunks` aborts the upload: nothing is left under `key` (an unfinished multipart upload is aborted;
        the bucket's lifecycle removes any left by a crash)."""

    def head(self, key: str) -> StoredObject | None:
        """The object's size and type; None when there is no such object."""

    def presigned_get(self, key: str, seconds: int) -> str:
        """A URL that GETs the object for `seconds` without credentials (signed by this process's role)."""

    def read(self, key: str) -> bytes:
        """The whole object (tests and admin tools only: a result can be hundreds of MB)."""


class _ChunkStream(io.RawIOBase):
    """A non-seekable file over an iterator of chunks (what s3transfer's managed upload reads)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def chunk_file(chunks: Iterable[bytes]) -> io.BufferedReader:
    """`read(n)` answers n bytes until the end (s3transfer cuts parts with single reads)."""
    return io.BufferedReader(_ChunkStream(chunks), buffer_size=256 * 1024)


class S3ResultObjects:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _s3(self) -> Any:
        return s3_client()

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> StoredObject:
        from boto3.s3.transfer import TransferConfig

        # One thread, one part at a time: memory stays at about one part (the worker copies one file).
        transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                                  max_concurrency=1, use_threads=False)
        self._s3().upload_fileobj(chunk_file(chunks), self.bucket, key, Config=transfer,
                                  ExtraArgs={"ContentType": content_type})
        stored = self.head(key)
        if stored is None:  # S3 is strongly consistent: an upload that returned is readable
            raise RuntimeError(f"object {key} missing after its upload")
        return stored

    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            reply = self._s3().head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return StoredObject(key, int(reply["ContentLength"]), str(reply.get("ContentType") or ""))

    def presigned_get(self, key: str, seconds: int) -> str:
        return str(self._s3().generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                     ExpiresIn=int(seconds)))

    def read(self, key: str) -> bytes:
        return bytes(self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read())


_clients: dict[tuple[str, str | None], Any] = {}


def s3_client() -> Any:
    """One S3 client per region and endpoint. Path-style addressing and SigV4 when an endpoint is set (the
    local stack's moto server: a bucket name is not a DNS name there); presigned URLs then point at it."""
    endpoint = config.endpoint_url("s3")
    key = (config.region(), endpoint)
    client = _clients.get(key)
    if client is None:
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {"signature_version": "s3v4"}
        if endpoint:
            options["s3"] = {"addressing_style": "path"}
        # Its own session: boto3 adds S3's transfer methods to a session's client class once per boto3
        # Session, so a second one over the shared botocore session (store/db.py) would add them twice.
        client = _clients[key] = boto3.session.Session().client(
            "s3", region_name=key[0], endpoint_url=endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60,
                          **options))
    return client


_override: ResultObjects | None = None


def use(objects: ResultObjects | None) -> None:
    """Put a result store in place (tests: the in-memory twin); None: back to the bucket of the environment."""
    global _override
    _override = objects


def current() -> ResultObjects:
    if _override is not None:
        return _override
    return _for_bucket(config.results_bucket())


@cache
def _for_bucket(bucket: str) -> ResultObjects:
    if not bucket:
        raise RuntimeError(f"no results bucket configured ({config.RESULTS_BUCKET_ENV} unset)")
    return S3ResultObjects(bucket)

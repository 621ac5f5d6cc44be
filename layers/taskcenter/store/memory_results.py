"""The in-memory twin of the results bucket (store/result_objects.py), for unit tests of services. Same
semantics where services depend on them: an upload whose chunks raise leaves nothing; `head` answers None
for a missing key. Not modelled: S3's part sizes, encryption, real presigned signatures (a `memory://`
URL naming the key and lifetime)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from taskcenter.store.result_objects import StoredObject


class MemoryResultObjects:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.largest_chunk = 0  # what a streamed upload held at once (tests of streaming)
        self._lock = threading.Lock()

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> StoredObject:
        parts: list[bytes] = []
        for chunk in chunks:  # an exception here leaves nothing stored, as an aborted multipart upload
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            parts.append(bytes(chunk))
        body = b"".join(parts)
        with self._lock:
            self.objects[key] = (body, content_type)
        return StoredObject(key, len(body), content_type)

    def head(self, key: str) -> StoredObject | None:
        with self._lock:
            found = self.objects.get(key)
        return None if found is None else StoredObject(key, len(found[0]), found[1])

    def presigned_get(self, key: str, seconds: int) -> str:
        return f"memory://results/{key}?expires={int(seconds)}"

    def read(self, key: str) -> bytes:
        with self._lock:
            return self.objects[key][0]

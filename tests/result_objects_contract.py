"""One contract for the results bucket's implementations (store/result_objects.py), so the in-memory twin
cannot drift from S3: tests/unit/test_result_objects_memory.py runs it against store.memory_results,
tests/integration/test_result_objects_s3.py against S3 on moto. A subclass gives the `objects` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from taskcenter.store.result_objects import ResultObjects, StoredObject


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield bytes((start // size + i) % 251 for i in range(min(size, total - start)))


class ResultObjectsContract:
    def test_a_streamed_upload_reads_back_byte_for_byte(self, objects: ResultObjects) -> None:
        body = b"".join(chunks(300_000))
        stored = objects.put_stream("suno/t1/1/0.audio", chunks(300_000), "audio/mpeg")
        assert stored == StoredObject("suno/t1/1/0.audio", len(body), "audio/mpeg")
        assert objects.read("suno/t1/1/0.audio") == body
        assert objects.head("suno/t1/1/0.audio") == stored

    def test_an_empty_file_and_a_missing_key(self, objects: ResultObjects) -> None:
        assert objects.put_stream("mj/t2/1/image", iter(()), "image/png").size == 0
        assert objects.read("mj/t2/1/image") == b""
        assert objects.head("mj/t2/1/nothing") is None

    def test_a_stream_that_breaks_off_leaves_nothing(self, objects: ResultObjects) -> None:
        def broken() -> Iterator[bytes]:
            yield b"x" * 100_000
            raise ConnectionError("the upstream went away")

        with pytest.raises(ConnectionError):
            objects.put_stream("mj/t3/1/image", broken(), "image/png")
        assert objects.head("mj/t3/1/image") is None

    def test_a_stream_that_breaks_off_after_a_part_leaves_nothing(self, objects: ResultObjects) -> None:
        """Past one part (8 MiB) the upload is multipart; breaking off aborts it: no object appears."""
        def broken() -> Iterator[bytes]:
            yield from chunks(9 * 1024 * 1024, 1024 * 1024)
            raise ConnectionError("the upstream went away")

        with pytest.raises(ConnectionError):
            objects.put_stream("mj/t5/1/image", broken(), "image/png")
        assert objects.head("mj/t5/1/image") is None

    def test_a_presigned_url_names_the_key_and_its_lifetime(self, objects: ResultObjects) -> None:
        objects.put_stream("mj/t4/1/image", iter([b"png"]), "image/png")
        url = objects.presigned_get("mj/t4/1/image", 300)
        assert "mj/t4/1/image" in url and "300" in url

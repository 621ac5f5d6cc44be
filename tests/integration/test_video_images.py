"""A video request's image as data (an OpenAI SDK file part, Kling's base64) is as large as one Lambda event
carries, goes upstream from the request and is never stored in the task item (services/video/sent_images.py;
docs/video.md, "Images"). Before 4 Dec 2026 every video body was capped at 256 KB: a phone photo was a 413."""

from __future__ import annotations

import base64
import json
from typing import Any

from taskcenter.store.models import Task

from tests.integration import test_video_newapi_kling as kling_routes
from tests.integration import test_video_openai as openai_routes
from tests.integration.test_video_newapi_kling import call as newapi_call
from tests.integration.test_video_openai import call, multipart

sims, video_world = kling_routes.sims, kling_routes.video_world  # fixtures
sora_sim, sora_world = openai_routes.sora_sim, openai_routes.sora_world

PHOTO = b"\x89PNG" + bytes(range(256)) * 8_000  # 2 MB: 8x the old cap, 5x DynamoDB's item


def _stored(task_id: str) -> tuple[dict[str, Any], str]:
    task = Task.get(task_id, consistent_read=True)
    return task.properties["_submit"]["payload"], json.dumps(task.attribute_values, default=str)


def test_an_sdk_file_part_of_megabytes_reaches_sora_and_is_not_stored(sora_world: Any, sora_sim: Any,
                                                                      client: Any) -> None:
    parts = [(b'Content-Disposition: form-data; name="prompt"\r\n\r\n', b"a fox"),
             (b'Content-Disposition: form-data; name="input_reference"; filename="fox.png"\r\n'
              b"Content-Type: image/png\r\n\r\n", PHOTO)]
    raw, content_type = multipart(parts)
    status, video, _ = call(client, "POST", "/v1/videos", sora_world.user, raw=raw, content_type=content_type)
    assert status == 200, video
    assert sora_sim.creates[-1]["input_reference_bytes"] == len(PHOTO)
    stored, item = _stored(video["id"])
    assert "input_reference" not in stored and stored["images_not_kept"] == ["input_reference"]
    assert len(item) < 10_000  # the item holds the request's words, not its image


def test_a_kling_base64_image_of_megabytes_is_sent_and_not_stored_and_a_url_is_kept(video_world: Any, sims: Any,
                                                                                    client: Any) -> None:
    kling, _ = sims
    photo = base64.b64encode(PHOTO).decode()
    status, reply = newapi_call(client, "POST", "/v1/video/generations", video_world.user,
                                {"model": "kling-v1", "prompt": "a kite", "image": photo})
    assert status == 200, reply
    assert kling.creates[-1]["image"] == photo and kling.creates[-1]["action"] == "image2video"
    stored, item = _stored(reply["task_id"])
    assert "image" not in stored and stored["images_not_kept"] == ["image"] and photo[-100:] not in item
    status, reply = newapi_call(client, "POST", "/v1/video/generations", video_world.user,
                                {"model": "kling-v1", "prompt": "a kite", "image": "https://img.example/kite.png"})
    assert status == 200, reply
    stored, _ = _stored(reply["task_id"])  # a link is small: kept, so the task can be submitted again
    assert stored["image"] == "https://img.example/kite.png" and "images_not_kept" not in stored

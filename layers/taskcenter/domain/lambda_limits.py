"""AWS Lambda's synchronous payload limit, and what it leaves for an HTTP body behind API Gateway.

Lambda: "Invocation payload (request and response): 6 MB each for synchronous invocations" (AWS Lambda
Developer Guide, "Lambda quotas"), counted on the whole event / response JSON, not on the HTTP body. API
Gateway (REST, Lambda proxy) puts the body in the event's `body` string, base64-encoded when its
Content-Type matches the API's binary media types: template.yaml declares `*/*` (docs/deploy.md), so every
request body arrives base64-encoded (4 bytes per 3). docs/midjourney.md, "Request sizes".

A response is counted as the runtime sends it: the python3.11 runtime's marshaller (awslambdaric
`lambda_runtime_marshaller.Encoder`: simplejson with `ensure_ascii` left on for every runtime but python3.12)
writes each non-ASCII character of the body string as a `\\uXXXX` escape, 6 bytes, 12 outside the BMP, so a
reply of Chinese or emoji text is 2 to 3 times its UTF-8 size. That count is also an upper bound on 3.12's.
"""

from __future__ import annotations

import json
from typing import Any

LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_ESCAPED_CHAR_BYTES = 12  # one character outside the BMP, ASCII-escaped: \ud83d\ude00


def json_size(value: Any) -> int:
    """Bytes of `value` serialised as JSON (as API Gateway and Lambda carry it: UTF-8, compact)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def response_json_size(value: Any) -> int:
    """Bytes of `value` as the Lambda runtime sends a response (ASCII-escaped, default separators: module doc)."""
    return len(json.dumps(value))


def response_fits(response: dict[str, Any]) -> bool:
    """Whether a Lambda proxy response (statusCode, headers, body string) fits Lambda's response limit. The
    body's exact escaped size is counted only when its length could pass the limit (a character escapes to at
    most 12 bytes)."""
    room = LAMBDA_SYNC_PAYLOAD_BYTES - response_json_size({**response, "body": ""})
    body = response.get("body") or ""
    return len(body) * MAX_ESCAPED_CHAR_BYTES <= room or body_in_response_size(body) <= room


def body_limit(event: dict[str, Any], *, base64_bodies: bool) -> int:
    """The largest HTTP body whose event, with everything else this event carries, fits Lambda's limit."""
    room = LAMBDA_SYNC_PAYLOAD_BYTES - json_size({**event, "body": "", "isBase64Encoded": base64_bodies})
    return max(0, room * 3 // 4 if base64_bodies else room)


def response_room(envelope: dict[str, Any]) -> int:
    """Bytes left for a JSON body inside this response envelope (the body is a JSON string in the JSON)."""
    return LAMBDA_SYNC_PAYLOAD_BYTES - response_json_size({**envelope, "body": ""})


def body_in_response_size(body_text: str) -> int:
    """What a body string costs inside the response JSON as the runtime writes it (module doc)."""
    return response_json_size(body_text) - 2

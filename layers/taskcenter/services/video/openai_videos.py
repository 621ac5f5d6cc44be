"""The OpenAI Videos API over the engine (docs/video.md): create, retrieve, list, delete, remix, content.

    POST   /v1/videos                  JSON or multipart -> the video object (status "queued")
    GET    /v1/videos/{id}             -> the video object
    GET    /v1/videos?after&limit&order -> {"object": "list", "data", "first_id", "last_id", "has_more"}
    DELETE /v1/videos/{id}             -> {"id", "object": "video.deleted", "deleted": true} (finished only)
    POST   /v1/videos/{id}/remix       {"prompt"} -> a new video object (source must be completed)
    GET    /v1/videos/{id}/content?variant=video|thumbnail|spritesheet -> a redirect (content.py)

A video is a task of a video platform (Sora here; Kling, Seedance and Veo through openai_platforms.py),
kind `task` (the dashboards list it), charged at submission for the requested seconds at the model's and
size's price (domain/video_pricing.py) and settled at completion (settlement.py). Someone else's video, or a deleted
one, is answered 404. DELETE hides the video from this surface (and its content); the task stays in the dashboards
and the ledger, which are the money's history.
"""

from __future__ import annotations

from typing import Any

from taskcenter import clock
from taskcenter.domain import ids, listing_plan, numbers, states, video_pricing
from taskcenter.domain.errors import BadInput, NotFound, UpstreamRejected, UpstreamUnavailable
from taskcenter.services.core import idempotency, submission
from taskcenter.services.core.auth import Principal, owns
from taskcenter.services.video import content as video_content
from taskcenter.services.video import sent_images
from taskcenter.services.video.requests import CreateRequest, prompt_of
from taskcenter.store.repositories import current as repositories

PLATFORM = "sora"
VIDEO_PLATFORMS = frozenset({"sora", "kling", "doubao", "gemini"})  # retrieve and content serve every video task
LISTING_PLATFORM = "55"  # new-api's channel type for Sora: the `platform` its dashboards show
ACTION_GENERATE = "generate"
ACTION_REMIX = "remix"
DELETED = "video_deleted_at"  # task.extra: when DELETE /v1/videos/{id} hid it (seconds)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
LIST_READS = 10  # queries one list page may take to skip deleted videos before it answers with fewer (and
# has_more, last_id: the last deleted one read, so the next page goes on from there; docs/video.md)
_STATUS = {
    states.NOT_START: "queued", states.SUBMITTED: "queued", states.QUEUED: "queued",
    states.IN_PROGRESS: "in_progress", states.UNKNOWN: "in_progress", states.MODAL: "in_progress",
    states.SUCCESS: "completed", states.FAILURE: "failed",
}


class VideoNotFound(NotFound):
    code = "video_not_found"


def new_video_id() -> str:
    return "video_" + ids.random_alnum(32)


# ---------------------------------------------------------------- views
def _int_percent(progress: str) -> int:
    try:
        return max(0, min(100, int(str(progress or "0").rstrip("%") or 0)))
    except ValueError:
        return 0


def video_object(task: Any) -> dict[str, Any]:
    """The OpenAI video object for a task (times in seconds)."""
    props = task.properties or {}
    data = task.data if isinstance(task.data, dict) else {}
    shown = submission.extra_of(task).get("shown") or {}
    status = _STATUS.get(task.status, "queued")
    if status == "completed" and video_content.content_pending(task):
        # Sora and Veo content is served from our copy only: "completed" once it can be downloaded (docs/video.md)
        status = "in_progress"
    error = None
    if status == "failed":
        error = {"code": "video_generation_failed", "message": task.fail_reason or "the video generation failed"}
    return {
        "id": task.task_id,
        "object": "video",
        "model": str(props.get("model") or ""),
        "status": status,
        "progress": 100 if status in ("completed", "failed") else min(99, _int_percent(task.progress)),
        "created_at": int(task.submit_ms or 0) // 1000,
        "completed_at": int(task.finish_ms) // 1000 if task.finish_ms and status in ("completed", "failed") else None,
        "expires_at": data.get("expires_at") if isinstance(data.get("expires_at"), int) else None,
        "prompt": str(props.get("input") or ""),
        "seconds": str(data.get("seconds") or data.get("duration") or props.get("seconds") or ""),
        # Sora: its WxH; the other platforms: the WxH asked for (their task's "size" is the price tier)
        "size": str(data.get("size") or shown.get("size", props.get("size")) or ""),
        "remixed_from_video_id": props.get("remixed_from_video_id") or None,
        "error": error,
    }


def _visible(principal: Principal, video_id: str) -> Any:
    task = repositories().tasks.get(video_id) if video_id and len(video_id) <= 128 else None
    if not owns(principal, task) or task.platform not in VIDEO_PLATFORMS or DELETED in submission.extra_of(task):
        raise VideoNotFound(f"Video with id '{video_id[:128]}' not found.", field="video_id")
    return task


# ---------------------------------------------------------------- create, remix
def _spec(principal: Principal, request: CreateRequest, *, action: str, channel_id: int = 0,
          remix_of: Any = None) -> submission.TaskSpec:
    try:
        quota = video_pricing.quota_for(request.model, request.size, float(request.seconds), principal.group)
    except KeyError as error:
        raise BadInput(f"no price is configured for {request.model}", field="model") from error
    payload = request.payload()
    properties: dict[str, Any] = {"input": request.prompt, "model": request.model, "seconds": request.seconds,
                                  "size": request.size}
    if remix_of is not None:
        payload = {"prompt": request.prompt, "remix_of": remix_of.upstream_id}
        properties["remixed_from_video_id"] = remix_of.task_id
    task_id = new_video_id()
    # What the dashboards show (services/dashboard/task_listing.py): new-api's platform value and result_url.
    shown = {"listing_platform": LISTING_PLATFORM, "result_path": f"/v1/videos/{task_id}/content"}
    return submission.TaskSpec(platform=PLATFORM, kind="task", action=action,
                               model_name=f"{video_pricing.PREFIX}{request.model}", payload=payload,
                               properties=properties, task_id=task_id, channel_id=channel_id,
                               channel_model="" if channel_id else request.model,
                               payload_from_properties={"prompt": "input"}, quota=quota,
                               fields={"extra": {"shown": shown}})


def submit_spec(principal: Principal, spec: submission.TaskSpec, idempotency_key: str | None,
                request_facts: dict[str, Any]) -> idempotency.Outcome:
    """Charge and submit `spec` once per idempotency key; the reply is the video object."""
    key = idempotency.check_key(idempotency_key)

    def produce() -> dict[str, Any]:
        try:
            task = sent_images.submit_now(principal, spec)
        except (UpstreamUnavailable, UpstreamRejected) as error:
            if getattr(error, "task_id", ""):
                error.message = f"{error.message} (video {error.task_id} failed and was refunded)"
            raise
        return video_object(task)

    return idempotency.run_once("video-create", user_id=principal.user_id, key=key, request=request_facts,
                                produce=produce)


def create(principal: Principal, request: CreateRequest, idempotency_key: str | None = None) -> idempotency.Outcome:
    """Charge and submit (the reply is the new video object). A refusal or an unreachable upstream: the task
    is FAILURE and refunded already, and the error says so (UpstreamRejected / UpstreamUnavailable)."""
    facts = {k: v for k, v in request.payload().items() if k != "input_reference"}
    return submit_spec(principal, _spec(principal, request, action=ACTION_GENERATE), idempotency_key, facts)


def remix(principal: Principal, video_id: str, body: dict[str, Any],
          idempotency_key: str | None = None) -> idempotency.Outcome:
    """A new video from a completed one: same model, seconds and size, a new prompt, on the source's channel
    (its upstream id lives there), priced as the source was requested."""
    prompt = prompt_of(body)
    source = _visible(principal, video_id)
    if source.platform != PLATFORM:
        raise BadInput("Only Sora videos can be remixed (the other platforms have no remix).", field="video_id")
    if source.status != states.SUCCESS:
        raise BadInput("Only completed videos can be remixed.", field="video_id")
    props = source.properties or {}
    request = CreateRequest(prompt=prompt, model=str(props.get("model") or "sora-2"),
                            seconds=str(props.get("seconds") or "4"), size=str(props.get("size") or "720x1280"))
    spec = _spec(principal, request, action=ACTION_REMIX, channel_id=int(source.channel_id or 0), remix_of=source)
    return submit_spec(principal, spec, idempotency_key, {"remix_of": source.task_id, "prompt": prompt})


# ---------------------------------------------------------------- retrieve, list, delete
def retrieve(principal: Principal, video_id: str) -> dict[str, Any]:
    return video_object(_visible(principal, video_id))


def _limit(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_LIMIT
    # ASCII digits only: "²" or "٣" is a 400, never int()'s ValueError or a silent 3
    return numbers.ascii_int(numbers.strip_ascii(raw), name="limit", minimum=0, maximum=MAX_LIMIT)


def list_videos(principal: Principal, params: dict[str, str | None]) -> dict[str, Any]:
    """One page of the caller's videos of every video platform (a Kling or Veo video made here is listed
    as retrieve serves it), newest first unless order=asc; `after` is the last id of the previous page."""
    limit = _limit(params.get("limit"))
    order = (params.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise BadInput("order must be asc or desc", field="order")
    after = None
    if params.get("after"):
        after = repositories().tasks.get(str(params["after"])[:128])
        if not owns(principal, after) or after.platform not in VIDEO_PLATFORMS:
            raise BadInput("after must be the id of one of your videos", field="after")
    rows: list[Any] = []
    more = False
    for _ in range(LIST_READS):
        batch, more = _merged_page(principal.user_id, after, limit + 1, newest_first=order == "desc")
        rows += [t for t in batch if DELETED not in submission.extra_of(t)]
        if len(rows) > limit or not more:
            break
        after = batch[-1]
    page = [video_object(t) for t in rows[:limit]]
    if len(rows) > limit:  # a full page: the next one starts after its last video
        last_id, has_more = page[-1]["id"], True
    elif more:  # the reads ran out on deleted videos: the next page starts after the last one read
        last_id, has_more = after.task_id, True
    else:
        last_id, has_more = (page[-1]["id"] if page else None), False
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": last_id, "has_more": has_more}


def _merged_page(user_id: int, after: Any, size: int, *, newest_first: bool) -> tuple[list[Any], bool]:
    """The first `size` rows after `after` across the platforms' own listing scopes: each scope's first
    `size` rows hold every row of the merged first `size`, so one query per platform is enough (reads at
    most platforms x size rows, whatever the user's history). True when some scope has rows left."""
    merged: list[Any] = []
    more = False
    for platform in sorted(VIDEO_PLATFORMS):
        batch = repositories().tasks.user_platform_page(user_id, "task", platform, after=after, limit=size,
                                                        newest_first=newest_first)
        merged += batch
        more = more or len(batch) == size
    merged.sort(key=lambda t: listing_plan.time_key(int(t.submit_ms), int(t.id)), reverse=newest_first)
    return merged[:size], more or len(merged) > size


def delete(principal: Principal, video_id: str) -> dict[str, Any]:
    task = _visible(principal, video_id)
    if task.status not in states.TERMINAL:
        raise BadInput("Only completed or failed videos can be deleted.", field="video_id")
    extra = {**submission.extra_of(task), DELETED: clock.now_s()}
    if not repositories().tasks.update(task, {"extra": extra}):
        task = _visible(principal, video_id)  # changed meanwhile (a settlement): once more, on the fresh item
        if not repositories().tasks.update(task, {"extra": {**submission.extra_of(task), DELETED: clock.now_s()}}):
            raise BadInput("the video changed meanwhile; try again", field="video_id")
    return {"id": task.task_id, "object": "video.deleted", "deleted": True}


def visible_task(principal: Principal, video_id: str) -> Any:
    """The caller's (not deleted) video task, for the content route."""
    return _visible(principal, video_id)

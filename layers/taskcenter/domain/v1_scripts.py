"""Task API v1 (TikMatrix) rules: plans, statuses, scripts, script_config validation, fan-out
(start_time: domain/v1_start_time.py).

Pure: no I/O. The service (`services/task_api_v1/`) applies them; docs/task-api-v1.md explains each choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskcenter.domain import states
from taskcenter.domain.errors import BadInput, Forbidden

# ---------------------------------------------------------------- codes and plans
CODE_BAD_PARAMETER = 40001
CODE_MISSING_SCRIPT = 40002
CODE_UNSUPPORTED_SCRIPT = 40003
CODE_NO_API_ACCESS = 40301
CODE_NOT_FOUND = 40401
CODE_INTERNAL = 50001


@dataclass(frozen=True)
class Plan:
    name: str
    api_enabled: bool
    device_limit: int


PLANS: dict[str, Plan] = {
    "Starter": Plan("Starter", False, 5),
    "Pro": Plan("Pro", True, 20),
    "Team": Plan("Team", True, 50),
    "Business": Plan("Business", True, 100),
}


def plan_of(name: str) -> Plan:
    """Unknown plan names (should not exist: the admin op validates) get the most restrictive plan."""
    return PLANS.get(name or "", PLANS["Starter"])


def license_message(plan: Plan) -> str:
    if plan.api_enabled:
        return f"{plan.name} plan: API access enabled, up to {plan.device_limit} devices at once"
    return f"{plan.name} plan does not include API access; upgrade to Pro, Team or Business"


def no_api_access(plan: Plan) -> Forbidden:
    error = Forbidden(license_message(plan))
    error.v1_code = CODE_NO_API_ACCESS  # type: ignore[attr-defined]
    return error


def bad(message: str, field_name: str, code: int = CODE_BAD_PARAMETER) -> BadInput:
    """A 400 naming the field; `code` is the v1 envelope code (40001 unless said otherwise)."""
    error = BadInput(message, field=field_name)
    error.v1_code = code  # type: ignore[attr-defined]
    return error


# ---------------------------------------------------------------- statuses
PENDING, RUNNING, COMPLETED, FAILED = 0, 1, 2, 3
RUNNING_STATES = (states.SUBMITTED, states.QUEUED, states.IN_PROGRESS, states.UNKNOWN, states.MODAL)
V1_TO_STATES: dict[int, tuple[str, ...]] = {
    PENDING: (states.NOT_START,),
    RUNNING: RUNNING_STATES,
    COMPLETED: (states.SUCCESS,),
    FAILED: (states.FAILURE,),
}


def v1_status(status: str) -> int:
    if status == states.NOT_START:
        return PENDING
    if status == states.SUCCESS:
        return COMPLETED
    if status == states.FAILURE:
        return FAILED
    return RUNNING


# ---------------------------------------------------------------- field checks
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(cfg: dict[str, Any], name: str, *, required: bool = False, max_len: int = 2200, default: str = "") -> str:
    value = cfg.get(name)
    if value is None:
        if required:
            raise bad(f"script_config.{name} is required", f"script_config.{name}")
        return default
    if not isinstance(value, str):
        raise bad(f"script_config.{name} must be a string", f"script_config.{name}")
    if required and not value.strip():
        raise bad(f"script_config.{name} must not be empty", f"script_config.{name}")
    if len(value) > max_len:
        raise bad(f"script_config.{name} must be at most {max_len} characters", f"script_config.{name}")
    return value


def _int(cfg: dict[str, Any], name: str, *, low: int, high: int, default: int | None = None,
         required: bool = False) -> int | None:
    value = cfg.get(name)
    if value is None:
        if required:
            raise bad(f"script_config.{name} is required", f"script_config.{name}")
        return default
    if not _is_int(value):
        raise bad(f"script_config.{name} must be an integer", f"script_config.{name}")
    if not low <= value <= high:
        raise bad(f"script_config.{name} must be between {low} and {high}", f"script_config.{name}")
    return int(value)


def _bool(cfg: dict[str, Any], name: str, default: bool) -> bool:
    value = cfg.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(f"script_config.{name} must be true or false", f"script_config.{name}")
    return value


def _str_list(cfg: dict[str, Any], name: str, *, required: bool = False, max_items: int = 100,
              max_len: int = 500) -> list[str]:
    value = cfg.get(name)
    if value is None:
        if required:
            raise bad(f"script_config.{name} is required", f"script_config.{name}")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise bad(f"script_config.{name} must be an array of non-empty strings", f"script_config.{name}")
    if required and not value:
        raise bad(f"script_config.{name} must not be empty", f"script_config.{name}")
    if len(value) > max_items:
        raise bad(f"script_config.{name} accepts at most {max_items} items", f"script_config.{name}")
    if any(len(v) > max_len for v in value):
        raise bad(f"script_config.{name} items must be at most {max_len} characters", f"script_config.{name}")
    return [v.strip() for v in value]


_USERNAME = re.compile(r"^@?[A-Za-z0-9_.]{1,64}$")


def _usernames(cfg: dict[str, Any], name: str) -> list[str]:
    names = _str_list(cfg, name, required=True)
    for n in names:
        if not _USERNAME.match(n):
            raise bad(f"script_config.{name} holds an invalid username: {n[:64]!r}", f"script_config.{name}")
    return list(dict.fromkeys(n.lstrip("@") for n in names))


# ---------------------------------------------------------------- scripts
@dataclass(frozen=True)
class Script:
    """One supported script: its config check (returns the normalised config) and its fan-out."""

    name: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    target_field: str = ""  # fan-out: one task per item of this list per device
    target_key: str = ""  # the single-target key each fanned-out task carries
    multi_account: bool | None = None  # forced value of enable_multi_account (None: the caller's)
    notes: tuple[str, ...] = field(default_factory=tuple)


def _post(cfg: dict[str, Any]) -> dict[str, Any]:
    content_type = _int(cfg, "content_type", low=0, high=1, default=0)
    materials = _str_list(cfg, "material_list", required=True, max_items=35)
    if content_type == 0 and len(materials) != 1:
        raise bad("script_config.material_list must hold exactly one video when content_type is 0",
                  "script_config.material_list")
    return {
        "content_type": content_type,
        "captions": _str(cfg, "captions", max_len=2200),
        "material_list": materials,
        "upload_wait_time": _int(cfg, "upload_wait_time", low=0, high=3600, default=60),
        "add_sound": _bool(cfg, "add_sound", False),
        "sound_name": _str(cfg, "sound_name", max_len=200),
        "tags": _str_list(cfg, "tags", max_items=30, max_len=100),
    }


def _follow(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "target_usernames": _usernames(cfg, "target_usernames"),
        "access_method": _choice(cfg, "access_method", ("search", "direct"), "search"),
        "interval_seconds": _int(cfg, "interval_seconds", low=0, high=3600, default=5),
    }


def _comment(cfg: dict[str, Any]) -> dict[str, Any]:
    comments = cfg.get("comment_content")
    if isinstance(comments, str):
        comments = [comments]
    checked = _str_list({"comment_content": comments}, "comment_content", required=True, max_items=50,
                        max_len=150)
    return {
        "target_post_urls": _str_list(cfg, "target_post_urls", required=True, max_items=100, max_len=500),
        "comment_content": checked,
        "interval_seconds": _int(cfg, "interval_seconds", low=0, high=3600, default=5),
    }


def _account_warmup(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "duration_minutes": _int(cfg, "duration_minutes", low=1, high=240, default=30),
        "like_probability": _int(cfg, "like_probability", low=0, high=100, default=20),
        "follow_probability": _int(cfg, "follow_probability", low=0, high=100, default=0),
        "comment_probability": _int(cfg, "comment_probability", low=0, high=100, default=0),
        "keywords": _str_list(cfg, "keywords", max_items=20, max_len=100),
    }


def _login(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "username": _str(cfg, "username", required=True, max_len=100),
        "password": _str(cfg, "password", required=True, max_len=200),
        "email": _str(cfg, "email", max_len=200),
    }


def _profile(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {
        "nickname": _str(cfg, "nickname", max_len=30),
        "bio": _str(cfg, "bio", max_len=80),
        "avatar": _str(cfg, "avatar", max_len=500),
    }
    if not any(out.values()):
        raise bad("script_config needs at least one of nickname, bio, avatar", "script_config.nickname")
    return out


def _match_accounts(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"platform": _choice(cfg, "platform", ("tiktok", "instagram"), "tiktok")}


def _choice(cfg: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = cfg.get(name, default)
    if value not in allowed:
        raise bad(f"script_config.{name} must be one of {', '.join(allowed)}", f"script_config.{name}")
    return str(value)


SCRIPTS: dict[str, Script] = {
    "post": Script("post", _post),
    "follow": Script("follow", _follow, target_field="target_usernames", target_key="target_username"),
    "unfollow": Script("unfollow", _follow, target_field="target_usernames", target_key="target_username"),
    "comment": Script("comment", _comment, target_field="target_post_urls", target_key="target_post_url"),
    "account_warmup": Script("account_warmup", _account_warmup),
    "login": Script("login", _login, multi_account=True),
    "profile": Script("profile", _profile),
    "match_accounts": Script("match_accounts", _match_accounts, multi_account=False),
}


def script_for(name: Any) -> Script:
    if name is None or (isinstance(name, str) and not name.strip()):
        raise bad("script_name is required", "script_name", CODE_MISSING_SCRIPT)
    if not isinstance(name, str):
        raise bad("script_name must be a string", "script_name")
    script = SCRIPTS.get(name)
    if script is None:
        raise bad(f"script {name[:64]!r} is not supported; supported: {', '.join(SCRIPTS)}", "script_name",
                  CODE_UNSUPPORTED_SCRIPT)
    return script


# ---------------------------------------------------------------- the create request
MAX_TARGETS = 200  # devices or usernames in one request
MAX_TASKS_PER_REQUEST = 1000


@dataclass(frozen=True)
class PlannedTask:
    """One task of a create request: where it runs and its own script_config."""

    serial: str
    account: str
    script_config: dict[str, Any]
    target: str = ""


@dataclass(frozen=True)
class CreatePlan:
    script: Script
    script_config: dict[str, Any]  # normalised, before fan-out
    enable_multi_account: bool
    serials: list[str]
    usernames: list[str]
    start_time_raw: str | None
    tasks: list[PlannedTask]


def _names(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise bad(f"{name} must be an array of non-empty strings", name)
    if len(value) > MAX_TARGETS:
        raise bad(f"{name} accepts at most {MAX_TARGETS} items", name)
    if any(len(v) > 128 for v in value):
        raise bad(f"{name} items must be at most 128 characters", name)
    return list(dict.fromkeys(v.strip() for v in value))


def plan_create(body: dict[str, Any]) -> CreatePlan:
    """Validate a create body and expand it into tasks (fan-out rules in docs/task-api-v1.md)."""
    script = script_for(body.get("script_name"))
    serials = _names(body, "serials")
    usernames = _names(body, "usernames")
    if serials and usernames:
        raise bad("give either serials or usernames, not both", "serials")
    if not serials and not usernames:
        raise bad("serials or usernames is required (a non-empty array)", "serials")
    raw_config = body.get("script_config")
    if raw_config is None:
        raise bad("script_config is required", "script_config")
    if not isinstance(raw_config, dict):
        raise bad("script_config must be an object", "script_config")
    config = script.validate(raw_config)
    multi = body.get("enable_multi_account", False)
    if multi is None:
        multi = False
    if not isinstance(multi, bool):
        raise bad("enable_multi_account must be true or false", "enable_multi_account")
    if script.multi_account is not None:
        multi = script.multi_account
    if usernames:
        multi = False  # only applicable in device mode (reference)
    start_raw = body.get("start_time")
    if start_raw is not None and not isinstance(start_raw, str):
        raise bad('start_time must be a string: "HH:MM" or an ISO-8601 timestamp', "start_time")
    targets = config.get(script.target_field) if script.target_field else None
    planned: list[PlannedTask] = []
    places = [(s, "") for s in (serials or [])] or [("", u) for u in (usernames or [])]
    for serial, account in places:
        if targets:
            for target in targets:
                one = {k: v for k, v in config.items() if k != script.target_field}
                one[script.target_key] = target
                planned.append(PlannedTask(serial, account, one, target))
        else:
            planned.append(PlannedTask(serial, account, dict(config)))
    if len(planned) > MAX_TASKS_PER_REQUEST:
        raise bad(f"this request would create {len(planned)} tasks; at most {MAX_TASKS_PER_REQUEST} per request",
                  "serials")
    return CreatePlan(script, config, multi, serials or [], usernames or [], start_raw, planned)

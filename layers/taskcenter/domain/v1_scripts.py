"""Task API v1 (TikMatrix) rules: plans, statuses, scripts, the create request and its fan-out (each script's
config: domain/v1_script_configs.py; start_time: domain/v1_start_time.py).

Pure: no I/O. The service (`services/task_api_v1/`) applies them; docs/task-api-v1.md explains each choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from taskcenter.domain import states
from taskcenter.domain import v1_script_configs as configs
from taskcenter.domain.errors import Forbidden
from taskcenter.domain.v1_fields import CODE_BAD_PARAMETER as CODE_BAD_PARAMETER  # re-exported
from taskcenter.domain.v1_fields import bad as bad  # re-exported: callers raise v1 refusals through here
from taskcenter.domain.v1_fields import number

# ---------------------------------------------------------------- codes and plans
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


# ---------------------------------------------------------------- scripts
@dataclass(frozen=True)
class Script:
    """One supported script: its config check (returns the config as the host is sent it) and its fan-out."""

    name: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    target_field: str = ""  # fan-out: one task per entry of this array per device; each task gets [entry]
    multi_account: bool | None = None  # forced value of enable_multi_account (None: the caller's)
    notes: tuple[str, ...] = field(default_factory=tuple)


SCRIPTS: dict[str, Script] = {
    "post": Script("post", configs.post),
    "follow": Script("follow", configs.follow, target_field="target_users"),
    "unfollow": Script("unfollow", configs.follow, target_field="target_users"),
    "comment": Script("comment", configs.comment, target_field="target_post_urls"),
    "account_warmup": Script("account_warmup", configs.account_warmup),
    "login": Script("login", configs.login, multi_account=True),
    "profile": Script("profile", configs.profile),
    "match_accounts": Script("match_accounts", configs.match_accounts, multi_account=False),
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
    script_config: dict[str, Any]  # as checked, before fan-out
    enable_multi_account: bool
    serials: list[str]
    usernames: list[str]
    start_time_raw: str | None
    tasks: list[PlannedTask]
    intervals: dict[str, int] = field(default_factory=dict)  # min_interval / max_interval as given (minutes)


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
    first: dict[str, str] = {}  # duplicates collapse; "@alice" and "alice" are one account (create.place)
    for entry in (v.strip() for v in value):
        first.setdefault(entry.lstrip("@") if name == "usernames" else entry, entry)
    return list(first.values())


def _intervals(body: dict[str, Any]) -> dict[str, int]:
    """`min_interval` / `max_interval`: no longer in the docs but still sent by the desktop UI (0-10 minutes,
    tikmatrix-scripts.md §1). Accepted, stored and passed to the host, which spaces the account's tasks."""
    out = {name: number(body, name, low=0, high=1440, default=None, prefix="")
           for name in ("min_interval", "max_interval")}
    low, high = out["min_interval"], out["max_interval"]
    if low is not None and high is not None and low > high:
        raise bad("min_interval must not be above max_interval", "min_interval")
    return {k: v for k, v in out.items() if v is not None}


def _has_marker(value: Any) -> bool:
    """A `$enc` key is ours (taskcenter/script_secrets.py): a client may not pass one in."""
    if isinstance(value, dict):
        return "$enc" in value or any(_has_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_marker(v) for v in value)
    return False


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
        raw_config = {}  # the first docs had it optional; scripts without config send {} (§1)
    if not isinstance(raw_config, dict):
        raise bad("script_config must be an object", "script_config")
    if _has_marker(raw_config):
        raise bad('script_config must not hold "$enc" keys', "script_config")
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
    intervals = _intervals(body)
    targets = config.get(script.target_field) if script.target_field else None
    planned: list[PlannedTask] = []
    places = [(s, "") for s in (serials or [])] or [("", u) for u in (usernames or [])]
    for serial, account in places:
        if targets:
            for target in targets:
                planned.append(PlannedTask(serial, account, {**config, script.target_field: [target]}, target))
        else:
            planned.append(PlannedTask(serial, account, dict(config)))
    if len(planned) > MAX_TASKS_PER_REQUEST:
        raise bad(f"this request would create {len(planned)} tasks; at most {MAX_TASKS_PER_REQUEST} per request",
                  "serials")
    return CreatePlan(script, config, multi, serials or [], usernames or [], start_raw, planned, intervals)

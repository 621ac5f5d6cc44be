"""The chaos run: the local stack with faults everywhere, N tasks across the providers (Suno, Midjourney,
TikMatrix, Sora, Kling, Seedance and Veo videos), then the invariants.

Faults (docs/chaos.md): the chaos proxies in front of every simulator (infra/local/components/chaos.py) answer
30 % of upstream calls 503/429, 5 % with garbage, stall 5 % past the API's read timeout; the event runner
(infra/local/runner.py) delivers every SQS batch twice and crashes 10 % of queue invocations mid-batch; the
second Suno channel is deleted while its tasks are in flight.

Then, read from the stack's own tables (a Scan: this is a test tool on a private local stack):
- every task SUCCESS or FAILURE;
- refunds = failed attempts exactly: every charged attempt that failed has one refund ledger entry, no
  succeeded attempt has one;
- a video's settlement (a second ledger entry) happens at most once, on a succeeded attempt only, and every
  succeeded video that produced another length than it was charged for has exactly that one, of the difference;
- `money.audit_user` holds for every user;
- every listing counter (scope, status, hour bucket) equals a full recount of the tasks table, once the event
  runner has read the tasks table's stream to its end (the counters follow it: docs/listing.md "total");
- every dead-letter queue has an alarm in template.yaml (and its depth is reported);
- every terminal event of every task reached its user's webhook endpoint with a valid signature
  (tests/chaos/webhook_checks.py; duplicates counted);
- a 1,000-task v1 fan-out create wrote every task, and refused large v1 creates (a limited key that runs out
  part-way) left no task and no charge (tests/chaos/large_creates.py).
Exit status 0 only if all hold. The figures go to stdout and to the report file as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos import webhook_checks
from tests.chaos.checks import Check, counter_checks, dead_letter_checks, money_checks, usage_log_checks

ROOT = Path(__file__).resolve().parents[2]

# The chaos itself, and clocks short enough for a run of minutes. Values already in the environment win.
CHAOS_ENV = {
    "LOCAL_CHAOS": "1",
    "LOCAL_CHAOS_FAIL_RATE": "0.3",
    "LOCAL_CHAOS_GARBAGE_RATE": "0.05",
    "LOCAL_CHAOS_TIMEOUT_RATE": "0.05",
    "LOCAL_CHAOS_READ_TIMEOUT": "2",
    "LOCAL_CHAOS_STALL_SECONDS": "3",
    "LOCAL_CHAOS_DUPLICATE": "1",
    "LOCAL_CHAOS_CRASH_RATE": "0.1",
    "LOCAL_CHAOS_SEED": "1",
    "LOCAL_CHAOS_TASK_TIMEOUT_SECONDS": "600",  # the sweeper's limit: every task ends in bounded time
    "LOCAL_CHAOS_DEVICES": "30",  # TikMatrix devices device_serial_1..30: v1 tasks run 30 at a time per user
    "LOCAL_SCHEDULE_SCALE": "0.1",  # rate(1 minute) every 6 s, rate(5 minutes) every 30 s
    "LOCAL_VISIBILITY_SCALE": "0.01",  # a failed message is back after seconds (poll queue: 360 s -> 3.6 s)
    "POLL_CHAIN_DELAY_SECONDS": "1",
    "FIRST_POLL_SECONDS": "1",
    "POLL_FAST_WINDOW_SECONDS": "30",
    "REFUND_GRACE_SECONDS": "5",
    "SUNO_SIM_STEP_SECONDS": "1,1,2",
    "MJ_SIM_STEP_SECONDS": "1",
    "SORA_SIM_STEP_SECONDS": "1,2",
    "KLING_SIM_STEP_SECONDS": "1,2",
    "ARK_SIM_STEP_SECONDS": "1,2",
    "VEO_SIM_STEP_SECONDS": "1,2",
    # upstream-reported failures of accepted videos (after the submission): each refunded once, never settled
    "SORA_SIM_TASK_FAILURE_RATE": "0.1",
    "KLING_SIM_TASK_FAILURE_RATE": "0.1",
    "ARK_SIM_TASK_FAILURE_RATE": "0.1",
    "VEO_SIM_TASK_FAILURE_RATE": "0.1",
}
TERMINAL = ("SUCCESS", "FAILURE")
KINDS = ("suno_music", "suno_lyrics", "mj_imagine", "v1_post", "v1_follow", "video_sora", "video_kling",
         "video_seedance", "video_veo")
VIDEO_MODELS = {"video_seedance": "doubao-seedance-1-0-pro", "video_veo": "veo-3.0-generate-001"}
VIDEO_PRODUCED = {"video_sora": "sim:seconds=8 ", "video_kling": "sim:seconds=10 ", "video_seedance": "sim:seconds=3 "}
SECOND_SUNO = "suno-sim-2"


# template.yaml: functions.streams.task_stream (listing counters) and .ledger_stream (usage-log buckets)
STREAM_CONSUMERS = ("StreamsTaskStreamFunction", "StreamsLedgerStreamFunction")


def say(text: str) -> None:
    print(f"[chaos] {time.strftime('%H:%M:%S')} {text}", flush=True)


# ---------------------------------------------------------------- HTTP
def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 60.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - the local stack
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError as error:
        return 0, str(error)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw[:200]


@dataclass
class User:
    user_id: int
    username: str
    api_key: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class Submission:
    kind: str
    user: User
    status: int = 0
    accepted: bool = False
    reply: Any = None
    ids: list[str] = field(default_factory=list)  # public task ids (Suno), MJ result ids, or v1 numeric ids


def submit(api: str, kind: str, user: User, n: int, device: str) -> Submission:
    out = Submission(kind, user)
    if kind in ("suno_music", "suno_lyrics"):
        action = kind.split("_")[1]
        out.status, out.reply = call("POST", f"{api}/suno/submit/{action}",
                                     {"prompt": f"chaos {action} {n}", "tags": "rock"}, user.headers())
        out.accepted = out.status == 200 and isinstance(out.reply, dict) and out.reply.get("code") == "success"
        if out.accepted:
            out.ids = [str(out.reply.get("data"))]
    elif kind.startswith("video_"):
        # every other video reports producing another length than requested, so its move settles the difference
        # (docs/video.md): Sora 8 s for 4 (charged more), Kling 10 s for 5 (more), Seedance 3 s for 5 (less);
        # Veo reports nothing (never settled)
        prompt = f"{VIDEO_PRODUCED.get(kind, '') if n % 2 else ''}chaos video {n}"
        path, body = (("/v1/videos", {"prompt": prompt}) if kind == "video_sora" else
                      ("/kling/v1/videos/text2video", {"prompt": prompt}) if kind == "video_kling" else
                      ("/v1/video/generations", {"model": VIDEO_MODELS[kind], "prompt": prompt}))
        out.status, out.reply = call("POST", f"{api}{path}", body, user.headers())
        out.accepted = out.status == 200 and isinstance(out.reply, dict) and bool(out.reply.get("id"))
        if out.accepted:
            out.ids = [str(out.reply["id"])]
    elif kind == "mj_imagine":
        out.status, out.reply = call("POST", f"{api}/mj/submit/imagine", {"prompt": f"chaos image {n}"},
                                     user.headers())
        out.accepted = out.status == 200 and isinstance(out.reply, dict) and out.reply.get("code") in (1, 22)
        if out.accepted:
            out.ids = [str(out.reply.get("result"))]
    else:
        script = kind.split("_")[1]
        config = ({"content_type": 0, "captions": f"chaos post {n}", "material_list": ["C:/Videos/v.mp4"]}
                  if script == "post" else {"target_usernames": [f"target_{n}"], "interval_seconds": 1})
        out.status, out.reply = call("POST", f"{api}/api/v1/task", {
            "serials": [device], "script_name": script, "script_config": config}, user.headers())
        out.accepted = out.status == 200 and isinstance(out.reply, dict) and out.reply.get("code") == 0
        if out.accepted:
            out.ids = [str(i) for i in out.reply["data"]["task_ids"]]
    return out


# ---------------------------------------------------------------- the stack's tables
def use_stack_env(env: dict[str, str]) -> None:
    """Point this process (boto3, the taskcenter models) at the stack's moto server and tables."""
    os.environ.update(env)
    layers = str(ROOT / "layers")
    if layers not in sys.path:
        sys.path.insert(0, layers)


def make_users(count: int) -> list[User]:
    from taskcenter.services.admin import operations as admin

    users = []
    for _ in range(count):
        name = "chaos" + secrets.token_hex(4)
        user = admin.create_user(name, quota=20_000_000_000, plan="Business")
        key = admin.issue_credential(user["id"], "key", name="chaos")
        users.append(User(int(user["id"]), name, key["token"]))
    return users


def read_tasks(user_ids: set[int]) -> list[Any]:
    from taskcenter.store.models import Task

    wanted = ["task_id", "id", "platform", "user_id", "channel_id", "status", "fail_reason", "attempt", "billing",
              "quota", "submit_ms", "finish_ms", "group", "properties", "data", "settled_ms"]  # video: what it produced
    return [t for t in Task.scan(attributes_to_get=wanted) if int(t.user_id) in user_ids]


# ---------------------------------------------------------------- the run
@dataclass
class Options:
    tasks: int = 1000
    users: int = 4  # besides demo
    deadline_s: float = 1800.0
    workers: int = 8
    state_dir: Path = ROOT / ".local" / "chaos"
    report: Path = ROOT / ".local" / "chaos-report.md"
    delete_at: float = 0.5  # share of submissions done when the second suno channel is deleted
    watch_every_s: float = 20.0  # how often the wait reads the tasks (a Scan: costly for moto at 1,000 tasks)
    fanout: int = 1000  # one v1 create of this many tasks (tests/chaos/large_creates.py); 0: none
    refused_size: int = 300  # two v1 creates of this many on a key that pays 1.5 of them; 0: none


@dataclass
class Result:
    ok: bool
    checks: list[Check]
    figures: dict[str, Any]
    report: str


def run(options: Options, log: Callable[[str], None] = say) -> Result:
    from tests.e2e.conftest import start_stack, stop_stack

    for key, value in CHAOS_ENV.items():
        os.environ.setdefault(key, value)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    proc, doc = start_stack(options.state_dir)
    try:
        return _run(options, doc, began, log)
    finally:
        stop_stack(proc)


def _run(options: Options, doc: dict[str, Any], began: float, log: Callable[[str], None]) -> Result:
    api, env, components = doc["api_url"], doc["env"], doc["components"]
    use_stack_env(env)
    from taskcenter.observability import logger
    from taskcenter.services.admin import operation_specs as admin_ops

    logger.setLevel("WARNING")  # the admin operations' INFO lines would interleave with the progress lines
    log(f"stack up in {time.monotonic() - began:.0f}s: {api}; components {sorted(components)}")
    if not components.get("chaos"):
        raise RuntimeError("the chaos component did not start (LOCAL_CHAOS=1?); see the stack's logs")
    # the TikMatrix host runs each script for 1 s (instead of 5) so the devices' queues move
    if components.get("tikmatrix-sim"):
        call("POST", f"{components['tikmatrix-sim']}/sim/config", {"run_seconds": 1.0, "pending_seconds": 0.2})
    second = next(c for c in doc["channels"] if c.get("name") == SECOND_SUNO)
    devices = next(c["devices"] for c in doc["channels"] if c.get("type") == "tikmatrix")
    demo = User(int(doc["demo"]["user_id"]), "demo", doc["demo"]["api_key"])
    users = [demo, *make_users(options.users)]
    user_ids = {u.user_id for u in users}
    hooks = webhook_checks.register(sorted(user_ids), components)  # every terminal event must arrive, signed

    submissions: list[Submission] = []
    deletion: dict[str, Any] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def delete_second_channel(submit_more: Callable[[int], None]) -> None:
        in_flight: list[Any] = []
        for _ in range(10):  # bounded: a few more Suno submissions until the channel has a task in flight
            in_flight = [t for t in read_tasks(user_ids) if int(t.channel_id) == int(second["id"])
                         and t.status not in TERMINAL]
            if in_flight:
                break
            submit_more(len(users) * 2)
        reply = admin_ops.run({"op": "delete_channel", "channel_id": int(second["id"])})
        deletion.update({"channel_id": second["id"], "ok": reply["ok"], "in_flight": len(in_flight),
                         "in_flight_ids": [t.task_id for t in in_flight], "at_s": time.monotonic() - started})
        log(f"deleted channel {second['id']} ({SECOND_SUNO}) with {len(in_flight)} of its tasks in flight: {reply}")

    def one(n: int, kind: str | None = None) -> None:
        turn = n // len(KINDS)  # every user gets every kind; each user's v1 tasks go round the devices
        result = submit(api, kind or KINDS[n % len(KINDS)], users[turn % len(users)], n,
                        devices[(turn // len(users)) % len(devices)])
        with lock:
            submissions.append(result)
            done = len(submissions)
        if done % 100 == 0:
            log(f"submitted {done}/{options.tasks}")

    def more_suno(count: int) -> None:
        with ThreadPoolExecutor(options.workers) as pool:
            list(pool.map(lambda n: one(n, "suno_music"), range(options.tasks + len(submissions),
                                                               options.tasks + len(submissions) + count)))

    half = max(1, int(options.tasks * options.delete_at))
    with ThreadPoolExecutor(options.workers) as pool:
        list(pool.map(one, range(half)))
    delete_second_channel(more_suno)
    with ThreadPoolExecutor(options.workers) as pool:
        list(pool.map(one, range(half, options.tasks)))
    from tests.chaos import large_creates

    large = large_creates.run(api, devices, options.fanout, options.refused_size, log)
    user_ids |= large.user_ids
    submit_s = time.monotonic() - started
    log(f"{len(submissions)} submissions in {submit_s:.0f}s "
        f"({sum(s.accepted for s in submissions)} accepted); waiting for every task to end")

    deadline = started + options.deadline_s
    tasks: list[Any] = []
    while True:
        tasks = read_tasks(user_ids)
        open_tasks = [t for t in tasks if t.status not in TERMINAL]
        pending = [t for t in tasks if t.billing == "refund_pending"]
        if not open_tasks and not pending:
            break
        if time.monotonic() > deadline:
            log(f"deadline: {len(open_tasks)} tasks unfinished, {len(pending)} refunds pending")
            break
        log(f"{len(tasks)} tasks: {len(open_tasks)} unfinished ({dict(Counter(t.status for t in open_tasks))}), "
            f"{len(pending)} refunds pending")
        time.sleep(options.watch_every_s)  # the stack works on its own clock; the driver only watches (a Scan)
    settle_s = time.monotonic() - started
    return report(options, doc, submissions, tasks, user_ids, deletion, submit_s, settle_s,
                  time.monotonic() - began, large=large, hooks=hooks)


def report(options: Options, doc: dict[str, Any], submissions: list[Submission], tasks: list[Any], user_ids: set[int],
           deletion: dict[str, Any], submit_s: float, settle_s: float, wall_s: float, *,
           large: Any = None, hooks: dict[int, str] | None = None) -> Result:
    from tests.chaos import large_creates

    env, components = doc["env"], doc["components"]
    unfinished = [t for t in tasks if t.status not in TERMINAL]
    checks = [Check("every task SUCCESS or FAILURE", not unfinished and bool(tasks),
                    f"{len(tasks)} tasks, {len(unfinished)} unfinished"
                    + (f": {[(t.task_id, t.status) for t in unfinished[:10]]}" if unfinished else ""))]
    deleted_ids = set(deletion.get("in_flight_ids") or [])
    deleted_tasks = [t for t in tasks if t.task_id in deleted_ids]
    checks.append(Check("channel deleted while its tasks were in flight",
                        bool(deletion.get("ok")) and deletion.get("in_flight", 0) > 0,
                        f"channel {deletion.get('channel_id')}: {deletion.get('in_flight', 0)} in flight; they ended "
                        f"{dict(Counter(t.status for t in deleted_tasks))}"))
    money, money_figures = money_checks(tasks, user_ids)
    dlq, depths = dead_letter_checks(env)
    # the counters follow the tasks table's stream: read it to its end first (as a reader after the write settled)
    # (a long backlog on a loaded machine outlasts one request's timeout: ask again until the stream is read)
    records = 0
    for consumer in STREAM_CONSUMERS:
        for _ in range(5):
            _, drained = call("POST", f"{components['event-runner']}/drain/{consumer}", timeout=600.0)
            if isinstance(drained, dict):
                records += int(drained.get("records") or 0)
                break
            print(f"[chaos] draining {consumer}: {drained}; again", flush=True)
    totals, total_figures = counter_checks()
    log_totals, log_figures = usage_log_checks()
    totals += log_totals
    total_figures.update(log_figures)
    total_figures["stream records drained before the recount"] = records
    hook_checks, hook_figures = webhook_checks.checks(tasks, hooks or {}, components, env)
    checks += money + dlq + totals + hook_checks
    money_figures.update(total_figures)
    money_figures.update(hook_figures)
    if large is not None:
        large_checks, large_figures = large_creates.checks(large, tasks)
        checks += large_checks
        money_figures.update(large_figures)
    _, proxy = call("GET", f"{components['chaos']}/chaos/stats")
    _, runner = call("GET", f"{components['event-runner']}/health")

    by = Counter((t.platform, t.status) for t in tasks)
    platforms = sorted({p for p, _ in by})
    reasons = Counter(_reason(t.fail_reason) for t in tasks if t.status == "FAILURE")
    lines = ["# Chaos run", "",
             f"{len(submissions)} submissions by {len(user_ids)} users; wall time {wall_s:.0f} s (submitting "
             f"{submit_s:.0f} s, all ended {settle_s:.0f} s after the first submission)", "",
             "| provider | tasks | SUCCESS | FAILURE | unfinished |", "|---|---:|---:|---:|---:|"]
    for p in platforms:
        total = sum(n for (q, _), n in by.items() if q == p)
        lines.append(f"| {p} | {total} | {by[(p, 'SUCCESS')]} | {by[(p, 'FAILURE')]} | "
                     f"{total - by[(p, 'SUCCESS')] - by[(p, 'FAILURE')]} |")
    lines.append(f"| **all** | {len(tasks)} | {sum(by[(p, 'SUCCESS')] for p in platforms)} | "
                 f"{sum(by[(p, 'FAILURE')] for p in platforms)} | {len(unfinished)} |")
    sub = Counter((s.kind, s.accepted) for s in submissions)
    lines += ["", "| submission | accepted | refused at once |", "|---|---:|---:|",
              *(f"| {k} | {sub[(k, True)]} | {sub[(k, False)]} |" for k in KINDS)]
    refused = Counter((s.kind, s.status, _reason(json.dumps(s.reply)[:80] if not isinstance(s.reply, bytes)
                                                 else s.reply.decode(errors="replace")[:80]))
                      for s in submissions if not s.accepted)
    lines += ["", "| refused submission (kind, HTTP status, reply) | count |", "|---|---:|",
              *(f"| {k} {st} `{r}` | {n} |" for (k, st, r), n in refused.most_common(10))]
    lines += ["", "| failure reason (normalised) | tasks |", "|---|---:|",
              *(f"| {r} | {n} |" for r, n in reasons.most_common(12))]
    lines += ["", "| money | |", "|---|---:|", *(f"| {k} | {v} |" for k, v in money_figures.items())]
    lines += ["", "| dead-letter queue | messages |", "|---|---:|", *(f"| {k} | {v} |" for k, v in depths.items())]
    lines += ["", "| chaos injected | count |", "|---|---:|"]
    for p in (proxy or {}).get("proxies", []) if isinstance(proxy, dict) else []:
        lines.append(f"| proxy {p['channel']} | requests {p['requests']}: 503 {p['http_503']}, 429 {p['http_429']}, "
                     f"garbage {p['garbage']}, timeouts {p['timeouts']}, forwarded {p['forwarded']} "
                     f"(+{p['pass_through']} pass-through) |")
    for k, v in ((runner or {}).get("chaos") or {}).items() if isinstance(runner, dict) else []:
        lines.append(f"| runner {k} | {v} |")
    lines.append(f"| channel {deletion.get('channel_id')} deleted with tasks in flight | {deletion.get('in_flight')} |")
    lines += ["", "| invariant | holds | detail |", "|---|---|---|",
              *(f"| {c.name} | {'yes' if c.ok else '**NO**'} | {c.detail} |" for c in checks)]
    knobs = {k: os.environ[k] for k in CHAOS_ENV if k in os.environ}
    lines += ["", "Settings: " + ", ".join(f"`{k}={v}`" for k, v in knobs.items()), ""]
    text = "\n".join(lines)
    options.report.parent.mkdir(parents=True, exist_ok=True)
    options.report.write_text(text)
    figures = {"tasks": len(tasks), "by": dict(by), "money": money_figures, "dlq": depths, "proxy": proxy,
               "runner": runner, "deletion": deletion, "wall_s": wall_s}
    return Result(all(c.ok for c in checks), checks, figures, text)


def _reason(reason: str) -> str:
    """Fail reasons without their ids and numbers, so they group."""
    import re

    return re.sub(r"\d+", "N", (reason or "")[:90])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="submissions (default 1000)")
    parser.add_argument("--users", type=int, default=4, help="users besides demo (default 4)")
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds to wait for every task to end")
    parser.add_argument("--workers", type=int, default=8, help="concurrent submitters (default 8)")
    parser.add_argument("--fanout", type=int, default=1000, help="tasks of the one large v1 create (default 1000)")
    parser.add_argument("--refused-size", type=int, default=300,
                        help="tasks of each of the two v1 creates a limited key cannot both pay (default 300)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local" / "chaos")
    parser.add_argument("--report", type=Path, default=ROOT / ".local" / "chaos-report.md")
    args = parser.parse_args(argv)
    result = run(Options(tasks=args.tasks, users=args.users, deadline_s=args.deadline, workers=args.workers,
                         state_dir=args.state_dir.resolve(), report=args.report.resolve(), fanout=args.fanout,
                         refused_size=args.refused_size))
    print(result.report, flush=True)
    say(f"report: {args.report}; logs: {args.state_dir}/logs/")
    say("all invariants hold" if result.ok else "INVARIANTS FAILED")
    return 0 if result.ok else 1

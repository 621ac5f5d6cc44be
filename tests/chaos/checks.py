"""The chaos run's invariants over the stack's tables and queues (docs/chaos.md, "What is checked")."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VIDEO_PLATFORMS = ("sora", "kling", "doubao", "gemini")  # services/platforms.py (docs/video.md)


def ledger(user_id: int) -> list[Any]:
    from taskcenter.store.models import LedgerEntry

    return list(LedgerEntry.query(user_id, consistent_read=True))


# ---------------------------------------------------------------- checks
@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def money_checks(tasks: list[Any], user_ids: set[int]) -> tuple[list[Check], dict[str, Any]]:
    from taskcenter.store import money

    charges: dict[tuple[str, int], int] = {}
    refunds: Counter[tuple[str, int]] = Counter()
    settlements: Counter[tuple[str, int]] = Counter()  # video: what the upstream produced (docs/video.md)
    settled: dict[tuple[str, int], int] = {}  # the signed difference each settle# entry moved
    for uid in user_ids:
        for entry in ledger(uid):
            key = (entry.task_id, int(entry.attempt))
            if str(entry.entry).startswith("settle#"):
                settlements[key] += 1
                settled[key] = int(entry.amount) if entry.kind == "charge" else -int(entry.amount)
            elif entry.kind == "charge":
                charges[key] = int(entry.amount)
            elif entry.kind == "refund":
                refunds[key] += 1
    by_id = {t.task_id: t for t in tasks}
    failed_attempts, succeeded_attempts = set(), set()
    for (task_id, attempt) in charges:
        task = by_id.get(task_id)
        if task is None:
            continue
        if attempt < int(task.attempt) or (attempt == int(task.attempt) and task.status == "FAILURE"):
            failed_attempts.add((task_id, attempt))
        elif task.status == "SUCCESS":
            succeeded_attempts.add((task_id, attempt))
    refunded = set(refunds)
    # a refused large create's tasks are gone (withdrawn: charged and refunded in the ledger, docs/task-api-v1.md)
    withdrawn = {k for k in charges if k[0] not in by_id and refunds.get(k) == 1}
    missing = sorted(failed_attempts - refunded)
    extra = sorted(refunded - failed_attempts - withdrawn)
    twice = sorted(k for k, n in refunds.items() if n > 1)
    unknown = sorted(k for k in charges if k[0] not in by_id and k not in withdrawn)
    audits = {uid: money.audit_user(uid) for uid in sorted(user_ids)}
    bad_audits = [a for a in audits.values() if not a.ok]
    bad_settlements = sorted(k for k, n in settlements.items()
                             if n > 1 or k not in succeeded_attempts or k in refunded)
    owed, unsettled = video_settlements(by_id, succeeded_attempts, charges, settled)
    figures = {"charged attempts": len(charges), "settled attempts (video)": len(settlements),
               "succeeded video attempts owing a settlement": len(owed),
               "quota settled (video, net)": sum(settled.values()),
               "failed charged attempts": len(failed_attempts),
               "withdrawn attempts (refused creates)": len(withdrawn),
               "refund ledger entries": sum(refunds.values()), "succeeded charged attempts": len(succeeded_attempts),
               "refunds of succeeded attempts": len(refunded & succeeded_attempts),
               "users audited": len(audits), "audits ok": len(audits) - len(bad_audits),
               "quota charged": sum(charges.values()),
               "quota refunded": sum(charges.get(k, 0) for k in refunded)}
    checks = [
        Check("refunds = failed attempts exactly", not missing and not extra and not twice,
              f"{len(failed_attempts)} failed charged attempts, {sum(refunds.values())} refunds"
              + (f"; missing {missing[:10]}" if missing else "") + (f"; unexpected {extra[:10]}" if extra else "")
              + (f"; twice {twice[:10]}" if twice else "")),
        Check("settlements: once, on succeeded attempts only", not bad_settlements,
              f"{len(settlements)} settled" + (f"; wrong {bad_settlements[:10]}" if bad_settlements else "")),
        Check("every succeeded video settled once, at what the upstream produced", not unsettled,
              f"{len(owed)} owed a settlement, {len(owed) - len(unsettled)} settled"
              + (f"; wrong {unsettled[:10]}" if unsettled else "")),
        Check("every charge belongs to a task (or was refunded with it)", not unknown,
              f"{len(unknown)} charges of unknown tasks {unknown[:5]}"),
        Check("ledger audit true for every user", not bad_audits,
              "; ".join(f"user {a.user_id}: quota {a.quota} expected {a.expected_quota}, used {a.used_quota} "
                        f"expected {a.charges - a.refunds}" for a in bad_audits) or f"{len(audits)} users"),
    ]
    return checks, figures


def video_settlements(by_id: dict[str, Any], succeeded: set[tuple[str, int]], charges: dict[tuple[str, int], int],
                      settled: dict[tuple[str, int], int]) -> tuple[list[tuple[str, int]], list[tuple[str, int, str]]]:
    """Every succeeded video attempt against what its upstream reported producing (its stored `data`, priced as
    services/video/settlement.py does): a different price has exactly one settle# entry of the difference and
    the task's quota is that price; the same price (or nothing reported) has none and keeps the charge.
    Returns the attempts that owed a settlement and the wrong ones (task, attempt, what is wrong)."""
    from taskcenter.services.video import settlement

    owed: list[tuple[str, int]] = []
    wrong: list[tuple[str, int, str]] = []
    for key in sorted(succeeded):
        task = by_id[key[0]]
        if task.platform not in VIDEO_PLATFORMS:
            continue
        charge, actual = charges[key], settlement.price_of_produced(task)
        expected = charge if actual is None else actual
        if expected != charge:
            owed.append(key)
        moved = settled.get(key, 0)
        if charge + moved != expected or int(task.quota) != expected or (moved != 0) != (key in settled) \
                or (key in settled) != (task.settled_ms is not None):
            wrong.append((*key, f"charged {charge}, produced {actual}, settled {settled.get(key)}, quota {task.quota}"))
    return owed, wrong


def dead_letter_checks(env: dict[str, str]) -> tuple[list[Check], dict[str, int]]:
    import boto3

    from infra.local import cfn

    template = cfn.load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    dlqs = set()
    for res in resources.values():
        policy = ((res.get("Properties") or {}).get("RedrivePolicy") or {}) if isinstance(res, dict) else {}
        target = policy.get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            ref = target["Fn::GetAtt"]
            dlqs.add(ref.split(".")[0] if isinstance(ref, str) else ref[0])
    alarmed = set()
    for res in resources.values():
        if isinstance(res, dict) and res.get("Type") == "AWS::CloudWatch::Alarm":
            text = json.dumps(res.get("Properties") or {})
            alarmed |= {d for d in dlqs if f'"{d}"' in text}
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    depths: dict[str, int] = {}
    for dlq in sorted(dlqs):
        name = next((v for k, v in env.items() if k.endswith("_DLQ_URL") and dlq.lower().startswith(
            k.split("_")[0].lower())), None)
        if name is None:
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=name, AttributeNames=["ApproximateNumberOfMessages",
                                                                         "ApproximateNumberOfMessagesNotVisible"])
        a = attrs["Attributes"]
        depths[dlq] = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
    unalarmed = sorted(dlqs - alarmed)
    stranded = sorted(d for d, n in depths.items() if n and d not in alarmed)
    return [Check("every dead-letter queue has an alarm", not unalarmed and len(depths) == len(dlqs),
                  f"{len(dlqs)} DLQs, alarmed {sorted(alarmed)}" + (f"; NO ALARM {unalarmed}" if unalarmed else "")),
            Check("nothing stranded in a DLQ without an alarm", not stranded,
                  ", ".join(f"{d}={n}" for d, n in depths.items()))], depths


def counter_checks() -> tuple[list[Check], dict[str, Any]]:
    """Every listing counter (every scope and status, every hour bucket) equals a full recount of the tasks
    table: what `total` and `/stats` answer is exact after the run (a Scan of both tables: a test tool's read)."""
    from taskcenter.domain import listing_plan as listing
    from taskcenter.store import counters
    from taskcenter.store import tasks as task_store
    from taskcenter.store.models import Task

    expected: Counter[str] = Counter()
    for task in Task.scan(attributes_to_get=["task_id", "id", "kind", "platform", "user_id", "action", "status",
                                             "channel_id", "submit_ms", "serial", "create_hold"]):
        expected.update(listing.counter_deltas_for_create(task_store.listing_facts(task)))
    stored: dict[str, int] = {}
    for item in counters.ScopeCounts.scan():  # every stored item, read back as its logical counters
        values: dict[str | None, int] = {
            None if attr == "value" else attr[2:]: n for attr, n in item.numbers.items()
            if attr == "value" or attr.startswith("v_")}
        stored.update(listing.counters_in_item(item.name, values))
    wrong = sorted(n for n in set(expected) | set(stored) if stored.get(n, 0) != expected.get(n, 0))
    figures = {"listing counters recounted": len(stored), "listing counters wrong": len(wrong)}
    detail = ", ".join(f"{n}: {stored.get(n, 0)} stored, {expected.get(n, 0)} counted" for n in wrong[:10])
    return [Check("every listing total equals a full recount (all scopes, statuses, hour buckets)", not wrong,
                  detail or f"{len(stored)} counters")], figures


def usage_log_checks() -> tuple[list[Check], dict[str, Any]]:
    """Every usage-log hour bucket (per user and admin shard, per kind and hour, and the charges' amounts)
    equals a recount of the ledger's entries: the ledger stream's consumer counted each entry once, through the
    runner's duplicate batches and crashes (a Scan of the ledger and the counters: a test tool's read)."""
    from taskcenter.store.models import LedgerEntry
    from taskcenter.store.usage_log_counts import LogDayCounts, deltas

    expected = {name: {a: n for a, n in attrs.items() if n} for name, attrs in deltas(LedgerEntry.scan()).items()}
    attributes = [a for a in LogDayCounts.get_attributes() if a != "name"]
    stored = {}
    for item in LogDayCounts.scan(LogDayCounts.name.startswith("ul#")):
        values = {a: int(getattr(item, a)) for a in attributes if getattr(item, a)}
        if values:
            stored[str(item.name)] = values
    wrong = sorted(n for n in set(expected) | set(stored) if stored.get(n, {}) != expected.get(n, {}))
    detail = ", ".join(f"{n}: {stored.get(n)} stored, {expected.get(n)} counted" for n in wrong[:5])
    figures = {"usage-log day items recounted": len(stored), "usage-log day items wrong": len(wrong)}
    return [Check("every usage-log hour bucket equals a recount of the ledger", not wrong,
                  detail or f"{len(stored)} day items")], figures

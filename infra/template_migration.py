"""The staged migration of the tasks table's indexes (docs/deploy.md, "Migrating the listing indexes" and
"Replacing the poll index").

DynamoDB cannot change an index's projection in place, and CloudFormation adds or deletes one GSI per
stack update; the table is at the 20-GSI quota. So the ALL-projection listing indexes
(`listing_indexes.PREVIOUS_INDEX_NAMES`) are replaced one at a time: step 2k-1 deletes the k-th old
index, step 2k adds the k-th new one (`MIGRATION_ORDER`: the indexes the engine reads first, then the
dashboards' most used). Then the ALL-projection poll index (`poll_reads.PREVIOUS_INDEX_NAME`) the same way:
the second last step deletes it, the last adds its keys-only successor; a stack whose listing indexes were
already migrated (its table is step `2 * len(LISTING_INDEXES)`) runs only those two. Step 0 is the stack
before; the last step is `make template`'s template.

    python -m infra.template --migration-step N   # the template of step N (1..steps()), on stdout
"""

from __future__ import annotations

import copy
from typing import Any

TASKS_TABLE = "TasksTable"

# The order new indexes are built in: Task API v1's admission and retry-all scans (store/v1_records.py)
# first, then the dashboards' unfiltered and status listings, then the narrower scopes.
MIGRATION_ORDER = (
    "user_platform_status", "user_device_status", "user_time", "user_status", "all_time", "all_status",
    "user_platform_time", "user_action_time", "user_device_time", "all_platform_time", "all_action_time",
    "all_channel_time", "all_channel_action_time", "user_action_final", "all_platform_final",
    "all_action_final", "all_channel_final", "all_channel_action_final",
)


def _previous_listing_indexes() -> list[dict[str, Any]]:
    """The ALL-projection listing indexes of the stack before: scope x (time `lt`, status `ls`)."""
    from taskcenter.domain.listing_indexes import PREVIOUS_INDEX_NAMES, TIME_INDEXES

    out = []
    pairs = zip(PREVIOUS_INDEX_NAMES[::2], PREVIOUS_INDEX_NAMES[1::2], strict=True)
    for scope, (time_name, status_name) in zip(TIME_INDEXES, pairs, strict=True):
        for name, range_attr in ((time_name, "lt"), (status_name, "ls")):
            out.append({"IndexName": name, "KeySchema": [{"AttributeName": scope, "KeyType": "HASH"},
                                                         {"AttributeName": range_attr, "KeyType": "RANGE"}],
                        "Projection": {"ProjectionType": "ALL"}})
    return out


def _replaced_others(final: dict[str, dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(the index before, its successor) of the tasks table's other indexes replaced since step 0: the poll
    index, ALL-projection before, keys only now (same keys; docs/decisions.md)."""
    from taskcenter.store.models import Task
    from taskcenter.store.poll_reads import PREVIOUS_INDEX_NAME

    successor = final[Task.poll_due.Meta.index_name]  # type: ignore[attr-defined]
    before = {**successor, "IndexName": PREVIOUS_INDEX_NAME, "Projection": {"ProjectionType": "ALL"}}
    return [(before, successor)]


def _plan(final_gsis: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The tasks table's GSI list at every step, step 0 (before) to the last (final_gsis)."""
    from taskcenter.domain.listing_indexes import LISTING_INDEXES

    by_attr = {spec.attr: spec.name for spec in LISTING_INDEXES}
    if sorted(MIGRATION_ORDER) != sorted(by_attr):
        raise ValueError("MIGRATION_ORDER must name every listing index once")
    new_names = {spec.name for spec in LISTING_INDEXES}
    final = {g["IndexName"]: g for g in final_gsis}
    replaced = _replaced_others(final)
    successors = {new["IndexName"] for _, new in replaced}
    others = [g for name, g in final.items() if name not in new_names | successors]  # due: unchanged
    old = _previous_listing_indexes()
    current = others + [before for before, _ in replaced] + old
    steps = [list(current)]
    old_order = [g["IndexName"] for g in old]
    # delete the old indexes in the order their replacements are built (an old status index with its new one)
    deletions = [n for n in MIGRATION_ORDER if n in old_order] + [n for n in old_order if n not in MIGRATION_ORDER]
    for old_name, new_attr in zip(deletions, MIGRATION_ORDER, strict=True):
        current = [g for g in current if g["IndexName"] != old_name]
        steps.append(list(current))
        current = current + [final[by_attr[new_attr]]]
        steps.append(list(current))
    for before, successor in replaced:  # last: a stack past the listing migration runs only these steps
        current = [g for g in current if g["IndexName"] != before["IndexName"]]
        steps.append(list(current))
        current = current + [successor]
        steps.append(list(current))
    return steps


def steps(template: dict[str, Any]) -> int:
    """How many stack updates the migration takes (step 0 is the stack before it)."""
    return len(_plan(template["Resources"][TASKS_TABLE]["Properties"]["GlobalSecondaryIndexes"])) - 1


def step_template(template: dict[str, Any], step: int) -> dict[str, Any]:
    """`template` with the tasks table's indexes (and the attribute definitions their keys use) of `step`."""
    props = template["Resources"][TASKS_TABLE]["Properties"]
    plan = _plan(props["GlobalSecondaryIndexes"])
    if not 0 <= step < len(plan):
        raise ValueError(f"migration step must be between 0 and {len(plan) - 1}")
    out = copy.deepcopy(template)
    table = out["Resources"][TASKS_TABLE]["Properties"]
    gsis = sorted(plan[step], key=lambda g: g["IndexName"])
    table["GlobalSecondaryIndexes"] = gsis
    # CloudFormation refuses attribute definitions no key uses (e.g. `lf` before its first index)
    used = {k["AttributeName"] for k in table["KeySchema"]} | {
        k["AttributeName"] for g in gsis for k in g["KeySchema"]}
    known = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    known.update({g_key: "S" for g_key in used if g_key not in known})  # the old listing keys are strings
    table["AttributeDefinitions"] = [{"AttributeName": n, "AttributeType": known[n]} for n in sorted(used)]
    return out

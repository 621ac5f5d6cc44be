"""The listing indexes of the tasks table: projected no wider than a listing needs (docs/listing.md,
"Indexes and what they cost"), and the staged migration from the ALL-projection ones (docs/deploy.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taskcenter.domain.listing_indexes import LISTING_INDEXES, PREVIOUS_INDEX_NAMES

from infra import template_migration
from infra.local import cfn

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
# Attributes a listing index may project besides its keys: written at creation only, by status moves (which
# re-key the status indexes anyway), or by a failover (channel). Never one that a poll or progress update
# writes (progress, data, next_poll_at, ...): such an update must not write any listing index.
WRITTEN_ONLY_BY_CREATE_MOVES_OR_FAILOVER = {
    "platform", "action", "serial", "account", "status", "attempt", "retry_count", "finish_ms",
    "channel_id", "lup", "lua", "lgp", "lga", "lgc", "lgca",
}
DYNAMODB_MAX_NON_KEY_ATTRIBUTES = 100  # summed over a table's secondary indexes (DynamoDB service quotas)
DYNAMODB_MAX_GSIS = 20  # default quota per table


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(TEMPLATE_PATH)


def _tasks_gsis(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    props = template["Resources"][template_migration.TASKS_TABLE]["Properties"]
    return {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}


def test_every_listing_index_projects_keys_and_only_attributes_no_poll_writes(template):
    gsis = _tasks_gsis(template)
    for spec in LISTING_INDEXES:
        projection = gsis[spec.name]["Projection"]
        assert projection["ProjectionType"] in ("KEYS_ONLY", "INCLUDE"), spec.name
        included = set(projection.get("NonKeyAttributes", []))
        assert included == set(spec.include), spec.name
        assert included <= WRITTEN_ONLY_BY_CREATE_MOVES_OR_FAILOVER, (spec.name, included)
    assert not set(PREVIOUS_INDEX_NAMES) & set(gsis), "the ALL-projection listing indexes are gone"
    total = sum(len(g["Projection"].get("NonKeyAttributes", [])) for g in gsis.values())
    assert total <= DYNAMODB_MAX_NON_KEY_ATTRIBUTES
    assert len(gsis) <= DYNAMODB_MAX_GSIS


def test_only_the_four_open_status_scopes_are_rekeyed_at_every_status_move(template):
    """`ls` changes at every status move (2 write units per index); `lt` never, `lf` once (at the end)."""
    by_range = {}
    for name, g in _tasks_gsis(template).items():
        ranges = [k["AttributeName"] for k in g["KeySchema"] if k["KeyType"] == "RANGE"]
        by_range.setdefault(ranges[0] if ranges else "", []).append(name)
    assert sorted(by_range["ls"]) == ["all_status_v2", "user_device_status_v2", "user_platform_status_v2",
                                      "user_status_v2"]
    assert len(by_range["lf"]) == 5 and len(by_range["lt"]) == 9


def test_the_migration_changes_one_index_per_step_within_the_quota(template):
    steps = template_migration.steps(template)
    assert steps == 2 * len(LISTING_INDEXES) + 2  # and the poll index's two (tests/infra/test_poll_index.py)
    before = {n: g for n, g in _tasks_gsis(template_migration.step_template(template, 0)).items()}
    assert set(PREVIOUS_INDEX_NAMES) <= set(before)
    assert all(before[n]["Projection"] == {"ProjectionType": "ALL"} for n in PREVIOUS_INDEX_NAMES)
    previous = before
    for step in range(1, steps + 1):
        stepped = template_migration.step_template(template, step)
        now = _tasks_gsis(stepped)
        changed = set(now) ^ set(previous)
        assert len(changed) == 1, (step, changed)
        assert all(now[n] == previous[n] for n in set(now) & set(previous)), step
        assert len(now) <= DYNAMODB_MAX_GSIS, step
        props = stepped["Resources"][template_migration.TASKS_TABLE]["Properties"]
        keys = {k["AttributeName"] for g in now.values() for k in g["KeySchema"]} | {
            k["AttributeName"] for k in props["KeySchema"]}
        assert {d["AttributeName"] for d in props["AttributeDefinitions"]} == keys, step
        previous = now
    assert template_migration.step_template(template, steps) == template  # the last step is the template
    with pytest.raises(ValueError):
        template_migration.step_template(template, steps + 1)

"""The tasks table's poll index: keys only under a new name (a projection cannot change in place), and its
replacement staged after the listing indexes' (docs/deploy.md, "Replacing the poll index")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taskcenter.domain.listing_indexes import LISTING_INDEXES
from taskcenter.store.models import Task
from taskcenter.store.poll_reads import PREVIOUS_INDEX_NAME

from infra import template_migration
from infra.local import cfn

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
POLL_KEYS = [{"AttributeName": "poll_shard", "KeyType": "HASH"}, {"AttributeName": "next_poll_at", "KeyType": "RANGE"}]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(TEMPLATE_PATH)


def _gsis(template: dict[str, Any], step: int | None = None) -> dict[str, dict[str, Any]]:
    stepped = template if step is None else template_migration.step_template(template, step)
    props = stepped["Resources"][template_migration.TASKS_TABLE]["Properties"]
    return {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}


def test_the_poll_index_projects_its_keys_only(template):
    name = Task.poll_due.Meta.index_name  # type: ignore[attr-defined]
    assert name != PREVIOUS_INDEX_NAME
    gsis = _gsis(template)
    assert gsis[name] == {"IndexName": name, "KeySchema": POLL_KEYS, "Projection": {"ProjectionType": "KEYS_ONLY"}}
    assert PREVIOUS_INDEX_NAME not in gsis


def test_the_poll_index_is_replaced_in_the_last_two_steps(template):
    name = Task.poll_due.Meta.index_name  # type: ignore[attr-defined]
    listing_done = 2 * len(LISTING_INDEXES)  # the table of a stack past the listing migration
    last = template_migration.steps(template)
    assert last == listing_done + 2
    for step in range(listing_done + 1):  # the ALL-projection index, on the same keys, until then
        gsis = _gsis(template, step)
        assert gsis[PREVIOUS_INDEX_NAME] == {"IndexName": PREVIOUS_INDEX_NAME, "KeySchema": POLL_KEYS,
                                             "Projection": {"ProjectionType": "ALL"}}, step
        assert name not in gsis, step
    gone = _gsis(template, listing_done + 1)  # one update deletes it (the table is at the 20-GSI quota) ...
    assert PREVIOUS_INDEX_NAME not in gone and name not in gone and len(gone) == 19
    props = template_migration.step_template(template, listing_done + 1)["Resources"][
        template_migration.TASKS_TABLE]["Properties"]
    assert {"poll_shard", "next_poll_at"}.isdisjoint(d["AttributeName"] for d in props["AttributeDefinitions"])
    assert _gsis(template, last) == _gsis(template)  # ... the next adds the keys-only one: the template
    assert set(_gsis(template, last)) - set(gone) == {name}

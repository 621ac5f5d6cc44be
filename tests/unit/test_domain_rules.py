"""Pure domain rules: state machine, pricing, credentials, the listing index planner."""

from __future__ import annotations

import pytest
from taskcenter.domain import credentials, ids, pricing, states
from taskcenter.domain import listing_plan as listing


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("NOT_START", "SUBMITTED", True),
        ("SUBMITTED", "SUCCESS", True),  # upstreams skip steps
        ("IN_PROGRESS", "QUEUED", False),  # an older report arriving late
        ("IN_PROGRESS", "UNKNOWN", True),
        ("UNKNOWN", "IN_PROGRESS", True),
        ("SUCCESS", "FAILURE", False),  # terminal is final
        ("FAILURE", "SUCCESS", False),
        ("QUEUED", "QUEUED", False),
    ],
)
def test_transitions(current: str, new: str, allowed: bool) -> None:
    assert states.may_transition(current, new) is allowed


def test_price_is_usd_times_group_ratio_in_integer_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pricing.quota_for("suno_music", "default") == 50_000  # 0.1 USD
    assert pricing.quota_for("suno_lyrics", "default") == 5_000
    monkeypatch.setenv("GROUP_RATIOS", '{"vip": 0.5}')
    monkeypatch.setenv("MODEL_PRICES", '{"suno_music": 0.2}')
    assert pricing.quota_for("suno_music", "vip") == 50_000
    assert pricing.quota_for("suno_music", "unknown-group") == 100_000  # falls back to default ratio 1
    with pytest.raises(KeyError):
        pricing.quota_for("nope", "default")


def test_credentials_are_hashed_and_parsed() -> None:
    key = credentials.new_api_key()
    assert key.startswith("sk-") and len(key) == 51
    assert credentials.hash_token(key) != key and len(credentials.hash_token(key)) == 64
    assert credentials.bearer_value("Bearer abc") == "abc"
    assert credentials.bearer_value("bearer   abc ") == "abc"
    assert credentials.bearer_value("abc") == "abc"
    assert credentials.bearer_value(None) == ""
    assert "..." in credentials.preview(key) and key not in credentials.preview(key)


def test_public_ids() -> None:
    a, b = ids.new_suno_task_id(), ids.new_suno_task_id()
    assert a.startswith("task_") and len(a) == 37 and a != b
    mj = ids.new_mj_task_id(1_700_000_000_000, 41)
    assert mj.isdigit() and mj.startswith("1700000000000")
    assert ids.v1_task_key(101) == "v1_101"


def test_mj_ids_are_16_digits_below_2_53_and_differ_within_a_millisecond() -> None:
    # JavaScript clients (the Dooy gallery) coerce all-digit ids to Number: above 2^53 they are corrupted.
    now_ms = 1_790_000_000_000  # 2026
    made = {ids.new_mj_task_id(now_ms, n) for n in range(1000, 2000)}
    assert len(made) == 1000
    for mj in made:
        assert mj.isdigit() and len(mj) == 16 and int(mj) < 2**53
        assert float(int(mj)) == int(mj)  # exact as a JavaScript Number (an IEEE double)
    assert int(ids.new_mj_task_id(8_999_999_999_999, 999)) < 2**53  # still true in the year 2255


FACTS = listing.ListingFacts(kind="task", user_id=7, platform="suno", action="MUSIC", status="QUEUED",
                             channel_id=3, submit_ms=1_700_000_000_000, numeric_id=42)


def test_every_task_gets_every_scope_key_and_sortable_ranges() -> None:
    attrs = listing.index_attributes(FACTS)
    assert attrs["lu"] == "u#7#task" and attrs["lup"] == "u#7#task#p#suno" and attrs["lua"] == "u#7#task#a#MUSIC"
    assert attrs["lgc"] == "g#task#c#3" and "lud" not in attrs  # sparse: no serial
    assert attrs["lgca"] == "g#task#c#3#a#MUSIC"
    assert attrs["lt"] == "1700000000000#000000000042"
    assert attrs["ls"] == "QUEUED#1700000000000#000000000042"
    # lexicographic order of the range key is time order
    earlier = listing.time_key(999_999_999_999, 5)
    assert earlier < attrs["lt"]


@pytest.mark.parametrize(
    ("filters", "index", "post"),
    [
        (dict(user_id=7), "user_time", {}),
        (dict(user_id=7, status="SUCCESS"), "user_status", {}),
        (dict(user_id=7, platform="suno"), "user_platform_time", {}),
        (dict(user_id=7, action="MUSIC", status="FAILURE"), "user_action_final", {}),  # terminal: `lf`
        (dict(user_id=7, platform="suno", action="MUSIC"), "user_action_time", {"platform": "suno"}),
        (dict(user_id=7, serial="dev1", status="SUCCESS"), "user_device_status", {}),
        (dict(), "all_time", {}),
        (dict(channel_id=3, status="SUCCESS"), "all_channel_final", {}),
        (dict(channel_id=3, action="MUSIC"), "all_channel_action_time", {}),
        (dict(channel_id=3, action="MUSIC", status="FAILURE"), "all_channel_action_final", {}),
        (dict(channel_id=3, action="MUSIC", platform="suno"), "all_channel_action_time", {"platform": "suno"}),
        (dict(user_id=7, serial="dev1", action="post"), "user_device_time", {"action": "post"}),
        (dict(platform="suno", status="QUEUED"), "all_status", {}),  # open: the admin's `ls`, filtered on lgp
    ],
)
def test_planner_picks_one_index_with_a_key_condition(filters: dict, index: str, post: dict) -> None:
    plan = listing.plan_listing(listing.ListingFilters(kind="task", **filters))
    assert plan.index_name == index
    assert plan.post_filters == post
    assert (plan.counter_scope is not None) == (not post)


def test_planner_time_range_with_and_without_status() -> None:
    plan = listing.plan_listing(listing.ListingFilters(kind="task", user_id=7, start_ms=1000, end_ms=2000))
    assert (plan.range_attr, plan.range_low, plan.range_high) == ("lt", "0000000001000", "0000000002000#~")
    assert plan.counter_scope is None  # counters cannot answer a time range
    plan = listing.plan_listing(listing.ListingFilters(kind="task", user_id=7, status="SUCCESS", start_ms=1000))
    assert (plan.range_attr, plan.range_low, plan.range_high) == ("ls", "SUCCESS#0000000001000", "SUCCESS#~")
    assert plan.range_prefix is None
    plan = listing.plan_listing(listing.ListingFilters(kind="task", user_id=7, status="SUCCESS"))
    assert plan.range_prefix == "SUCCESS#" and plan.counter_status == "SUCCESS"


def test_counter_moves_balance() -> None:
    created = listing.counter_deltas_for_create(FACTS)
    # every scope counts the task once in ALL and once in its status; the bucketed scopes once in its hour too
    assert all(v == 1 for v in created.values())
    assert len(created) == 2 * len(listing.scope_values(FACTS)) + len(listing.BUCKETED_SCOPES)
    hour = FACTS.submit_ms // listing.BUCKET_MS
    assert f"n#u#7#task#ALL#h{hour}" in created
    assert listing.bucket_counter_name("lg", "g#task", hour, 42) in created
    assert listing.bucket_counter_name("lg", "g#task", hour, 42) in listing.bucket_names_for_read(
        "lg", "g#task", [hour])
    moved = listing.counter_deltas_for_transition(FACTS, "QUEUED", "SUCCESS")
    assert sum(moved.values()) == 0
    assert all("#ALL" not in name for name in moved)  # ALL totals do not move on a status change
    from dataclasses import replace

    failover = listing.counter_deltas_between(FACTS, replace(FACTS, channel_id=4))
    # only the channel scopes (channel, channel+action) move, from channel 3 to channel 4
    assert {name.split("#c#")[0] for name in failover} == {"n#g#task"}
    assert {name.split("#")[4] for name in failover} == {"3", "4"}
    assert any("#a#MUSIC" in name for name in failover)
    assert sum(failover.values()) == 0


def test_admin_counters_are_sharded_and_stable_per_task() -> None:
    a = listing.counter_name("lg", "g#task", "ALL", 42)
    assert a == listing.counter_name("lg", "g#task", "ALL", 42)
    assert a in listing.counter_names_for_read("lg", "g#task", "ALL")
    assert len(listing.counter_names_for_read("lg", "g#task", "ALL")) == listing.ADMIN_COUNTER_SHARDS
    assert listing.counter_names_for_read("lu", "u#7#task", "ALL") == ["n#u#7#task#ALL"]


def test_every_counter_has_one_home_and_comes_back_from_it() -> None:
    """A user's platform scope lives in the user scope's item (they move together: one write for both); the
    other scopes keep an item each, admin shards theirs, hour buckets their own; counters_in_item inverts it."""
    from dataclasses import replace

    created = listing.counter_deltas_for_create(replace(FACTS, serial="dev1"))
    homes: dict[str, dict[str | None, int]] = {}
    for name in created:
        home, field = listing.counter_location(name)
        homes.setdefault(home, {})[field] = 1
    assert listing.counter_location("n#u#7#task#p#suno#SUCCESS") == ("ns#u#7#task", "p#suno#SUCCESS")
    assert listing.counter_location("n#u#7#task#SUCCESS") == ("ns#u#7#task", "SUCCESS")
    assert listing.counter_location("n#u#7#task#a#MUSIC#ALL") == ("ns#u#7#task#a#MUSIC", "ALL")
    assert listing.counter_location("n#u#7#task#d#dev1#ALL") == ("ns#u#7#task#d#dev1", "ALL")
    assert listing.counter_location("n#g#task#p#suno#ALL#s0") == ("ns#g#task#p#suno#s0", "ALL")
    assert not any("#p#" in home for home in homes if home.startswith("ns#u#"))
    # every scope but the user's platform has its item; the bucketed scopes one more each, their hour
    assert len(homes) == len(listing.scope_values(replace(FACTS, serial="dev1"))) - 1 + len(listing.BUCKETED_SCOPES)
    back = {name: n for home, fields in homes.items() for name, n in listing.counters_in_item(
        home, {None: 1} if None in fields else fields).items()}
    assert back == created


H = 3_600_000


def test_window_buckets_whole_hours_and_the_shorter_side_of_each_edge() -> None:
    """The dashboard's window (local midnight to now + 1 h) counts no row at all; a partial edge hour is read
    from its bucket less its rows outside the window, or by its rows inside, whichever stretch is shorter."""
    wb = listing.WindowBuckets
    now = 1_000 * H + 25 * 60_000  # 00:25 past hour 1000
    # the end edge past now holds no rows: bucket less nothing
    assert listing.window_buckets(990 * H, now + H, now) == wb(tuple(range(990, 1002)), minus=((now + H + 1,
                                                                                             1002 * H - 1),))
    assert listing.window_buckets(990 * H, None, now) == wb(tuple(range(990, 1002)))  # open end: to now + 1 h
    assert listing.window_buckets(990 * H, 10**15, now) == wb(tuple(range(990, 1002)))  # far future
    # a UTC+5:30 midnight: 30 minutes before it against 30 after: the bucket less the rows before
    half = listing.window_buckets(990 * H + 30 * 60_000, 995 * H - 1, now)
    assert half == wb(tuple(range(990, 995)), minus=((990 * H, 990 * H + 30 * 60_000 - 1),))
    # 10 minutes into an hour: count those rows instead of the 50 minutes outside
    late = listing.window_buckets(990 * H + 50 * 60_000, 992 * H + 10 * 60_000, now)
    assert late == wb((991,), plus=((990 * H + 50 * 60_000, 991 * H - 1), (992 * H, 992 * H + 10 * 60_000)))
    # inside one hour: the window itself, or the bucket less both sides
    assert listing.window_buckets(990 * H + 5, 990 * H + 9, now) == wb((), plus=((990 * H + 5, 990 * H + 9),))
    assert listing.window_buckets(990 * H + 5, 991 * H - 9, now) == wb((990,), minus=(
        (990 * H, 990 * H + 4), (991 * H - 8, 991 * H - 1)))
    assert listing.window_buckets(now + 2 * H, None, now) == wb(())
    # more items than a few BatchGets: counted instead (an admin scope reads 4 shards per hour)
    assert listing.window_buckets(0, now, now) is None
    assert listing.window_buckets(now - 99 * H, now, now, shards=4) is not None
    assert listing.window_buckets(now - 100 * H, now, now, shards=4) is None


def test_bucket_window_only_where_buckets_answer() -> None:
    f = listing.ListingFilters
    assert listing.plan_listing(f(kind="task", user_id=7, start_ms=5, end_ms=9)).window == (5, 9)
    assert listing.plan_listing(f(kind="task", start_ms=5)).window == (5, None)
    assert listing.plan_listing(f(kind="task", channel_id=2, start_ms=5)).window == (5, None)
    assert listing.plan_listing(f(kind="task", user_id=7, status="SUCCESS", start_ms=5)).window is None
    assert listing.plan_listing(f(kind="task", user_id=7, platform="suno", start_ms=5)).window is None
    assert listing.plan_listing(f(kind="task", user_id=7, end_ms=9)).window is None  # no start: counted


def test_a_held_submit_is_in_the_time_listings_and_all_counts_only() -> None:
    from dataclasses import replace

    held = replace(FACTS, status="NOT_START", held=True)
    assert "ls" not in listing.index_attributes(held) and "lt" in listing.index_attributes(held)
    assert not any(name.endswith("#NOT_START") for name in listing.counter_deltas_for_create(held))
    accepted = replace(FACTS, status="SUBMITTED")
    moves = listing.counter_deltas_between(held, accepted)
    assert moves == {name: 1 for name in moves} and all("#SUBMITTED" in name for name in moves)

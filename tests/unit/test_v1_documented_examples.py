"""Every documented example of every TikMatrix script (tests/v1_examples.py, from tikmatrix-scripts.md §5) is
accepted as documented, fans out as documented, and each planned task carries the documented field names and
values (what the host adapter sends). Also the documented defaults and forms (§3, §8)."""

from __future__ import annotations

from typing import Any

import pytest
from taskcenter.domain import v1_scripts as rules
from taskcenter.domain.errors import DomainError

from tests.v1_examples import EXAMPLES, Example, expected_host_config, expected_multi


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_documented_example_is_planned_with_the_documented_fields(example: Example) -> None:
    plan = rules.plan_create(example.body)
    assert len(plan.tasks) == example.tasks
    assert plan.enable_multi_account is expected_multi(example)
    places = example.body.get("serials") or example.body.get("usernames")
    targets = list(example.targets) or [None]
    assert [(t.serial or t.account, t.target or None) for t in plan.tasks] == [
        (p, target) for p in places for target in targets]
    for task, (_, target) in zip(plan.tasks, [(p, t) for p in places for t in targets], strict=True):
        sent = task.script_config
        for key, value in expected_host_config(example, target).items():
            assert sent[key] == value, (example.name, key, sent)


def plan_config(script: str, config: dict[str, Any]) -> dict[str, Any]:
    return rules.plan_create({"serials": ["d1"], "script_name": script, "script_config": config}).tasks[0].script_config


def test_documented_defaults_are_filled_in() -> None:
    post = plan_config("post", {})
    assert (post["upload_wait_time"], post["add_sound"], post["post_way"], post["material_source"],
            post["material_list"], post["sound_wait_time"], post["origin_sound_volume"], post["add_sound_volume"],
            post["add_product_link"], post["placement"], post["content_type"]) == (
        30, "-1", "share", "materialLibrary", [], 10, 50, 50, 0, "reel", 0)
    assert plan_config("follow", {"target_user": "a"})["access_method"] == "direct"
    warmup = plan_config("account_warmup", {})
    assert {k: warmup[k] for k in ("task_duration", "min_duration", "max_duration", "like_probable",
                                   "floow_probable", "collect_probable", "comment_probable")} == {
        "task_duration": 600, "min_duration": 15, "max_duration": 30, "like_probable": 0, "floow_probable": 0,
        "collect_probable": 0, "comment_probable": 0}
    assert plan_config("comment", {"target_post_url": "https://x.y/1", "comment_content": "a"})["comment_order"] == \
        "random"


def test_every_documented_form_of_a_field() -> None:
    for value in ("-1", "0", "1", "custom", -1, 0, 1):
        extra = {"custom_sound_keyword": "k"} if value == "custom" else {}
        assert plan_config("post", {"add_sound": value, **extra})["add_sound"] == str(value)
    # follow: target_users > target_user > target_username; newline or comma separated; "@" or not
    both = rules.plan_create({"serials": ["d1"], "script_name": "unfollow", "script_config": {
        "target_users": ["a"], "target_user": "b", "target_username": "c"}})
    assert [t.target for t in both.tasks] == ["a"]
    split = rules.plan_create({"serials": ["d1"], "script_name": "follow",
                               "script_config": {"target_user": "a\nb, c\r\n@d"}})
    assert [t.script_config["target_users"] for t in split.tasks] == [["a"], ["b"], ["c"], ["@d"]]
    assert all(set(t.script_config) == {"target_users", "access_method"} for t in split.tasks)
    # comment: target_post_urls wins over target_post_url; comment_content one per line
    urls = rules.plan_create({"serials": ["d1"], "script_name": "comment", "script_config": {
        "target_post_urls": ["https://a/1"], "target_post_url": "https://b/2", "comment_content": "x\ny"}})
    assert [t.script_config["target_post_urls"] for t in urls.tasks] == [["https://a/1"]]
    assert "target_post_url" not in urls.tasks[0].script_config
    assert len(rules.plan_create({"serials": ["d1"], "script_name": "comment", "script_config": {
        "target_post_url": "https://a/1\nhttps://a/2", "comment_content": "x"}}).tasks) == 2
    # warmup: floow_probable as spelled, follow_probable its alias; numbers as strings
    assert plan_config("account_warmup", {"follow_probable": "7"})["floow_probable"] == 7
    assert plan_config("account_warmup", {"floow_probable": 3, "follow_probable": 9})["floow_probable"] == 3
    ui = plan_config("account_warmup", {"chatgpt_settings": {"url": "https://api.openai.com/v1/chat/completions",
                                                             "api_key": "k", "model": "gpt-4o-mini",
                                                             "system_prompt": "be kind"}})
    assert ui["chatgpt_settings"]["system_prompt"] == "be kind" and ui["chatgpt_settings"]["model"] == "gpt-4o-mini"
    # script_config omitted: {} (the first docs had it optional)
    assert rules.plan_create({"serials": ["d1"], "script_name": "login"}).tasks[0].script_config == {}
    # the UI's extras are kept (post: ai_label ...)
    assert plan_config("post", {"ai_label": True, "rotate_proxy": "1"})["ai_label"] is True


def test_top_level_intervals_are_taken_and_checked() -> None:
    plan = rules.plan_create({"serials": ["d1"], "script_name": "login", "min_interval": "2", "max_interval": 10})
    assert plan.intervals == {"min_interval": 2, "max_interval": 10}
    for body, name in (({"min_interval": 5, "max_interval": 1}, "min_interval"), ({"max_interval": -1}, "max_interval"),
                       ({"min_interval": "soon"}, "min_interval")):
        with pytest.raises(DomainError) as caught:
            rules.plan_create({"serials": ["d1"], "script_name": "login", **body})
        assert caught.value.field == name


@pytest.mark.parametrize(("script", "config", "field"), [
    ("follow", {}, "script_config.target_users"),
    ("follow", {"target_user": " , \n"}, "script_config.target_users"),
    ("follow", {"target_users": ["ok"], "access_method": "teleport"}, "script_config.access_method"),
    ("comment", {"target_post_url": "https://a/1"}, "script_config.comment_content"),
    ("comment", {"comment_content": "x"}, "script_config.target_post_url"),
    ("post", {"add_sound": "loud"}, "script_config.add_sound"),
    ("post", {"add_sound": "custom"}, "script_config.custom_sound_keyword"),
    ("post", {"post_way": "useSound"}, "script_config.sound_name"),
    ("post", {"placement": "feed"}, "script_config.placement"),
    ("post", {"origin_sound_volume": 101}, "script_config.origin_sound_volume"),
    ("account_warmup", {"min_duration": 40, "max_duration": 30}, "script_config.min_duration"),
    ("account_warmup", {"generate_by_chatgpt": True}, "script_config.chatgpt_settings.api_key"),
    ("account_warmup", {"chatgpt_settings": {"temperature": 3}}, "script_config.chatgpt_settings.temperature"),
    ("profile", {"profile_order": "alphabetical"}, "script_config.profile_order"),
    ("login", {"password": {"$enc": "forged"}}, "script_config"),
])
def test_refusals_name_the_field(script: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as caught:
        rules.plan_create({"serials": ["d1"], "script_name": script, "script_config": config})
    assert (caught.value.v1_code, caught.value.field) == (40001, field)  # type: ignore[attr-defined]

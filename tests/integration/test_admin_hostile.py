"""Hostile admin inputs (docs/admin.md), found by hostile testing on 4 Dec 2026: each failed before the fix
(an internal_error, a secret rotated by a refused update, a channel that could never get a secret again).

docs/admin.md "Replies": "Failure (bad input never raises and never writes anything)"; `internal_error` is
"something unexpected (e.g. DynamoDB unavailable)", `invalid_request` is "a field is ... out of range".
"""

from __future__ import annotations

import pytest
from taskcenter.store import channel_secrets

from tests.integration.test_admin_lambda import invoke, ok
from tests.support import snapshot_tables


def _without_seq(snapshot: dict) -> dict:
    # the id sequences (counters `seq#...`) may move on a refused create; everything else must not
    return {t: [i for i in items if not str(i.get("name", {}).get("S", "")).startswith("seq#")]
            for t, items in snapshot.items()}


# ---------------------------------------------------------------- a refused update_channel rotated the secret
def test_refused_update_channel_does_not_rotate_the_secret(aws):
    ch = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": "old-key"})
    # A base_url the checks take (it parses, it is public) but the channels row cannot hold (> 400 KB item).
    reply = invoke({"op": "update_channel", "channel_id": ch["id"], "secret": "new-key",
                    "base_url": "https://suno.example.com/" + "a" * 420_000})
    assert reply["ok"] is False
    assert reply["error"] == "invalid_request" and reply["field"] == "base_url", reply  # not "unexpected"
    # "bad input never ... writes anything": the channel must still call its upstream with the old key
    assert channel_secrets.read(ch["secret_ref"], force_fetch=True) == "old-key"


def test_refused_update_channel_with_many_models_does_not_rotate_the_secret(aws):
    ch = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": "old-key"})
    models = [f"model-{i:06d}-" + "x" * 100 for i in range(4000)]  # ~440 KB of distinct model names
    reply = invoke({"op": "update_channel", "channel_id": ch["id"], "secret": "new-key", "models": models})
    assert reply["ok"] is False and reply["error"] == "request_too_large", reply  # DynamoDB's 400 KB, computed
    assert channel_secrets.read(ch["secret_ref"], force_fetch=True) == "old-key"


# ------------------------------------------------------------------ 2. unbounded strings -> internal_error
@pytest.mark.parametrize("event", [
    {"op": "create_user", "username": "bigname", "display_name": "x" * 500_000},
    {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "name": "n" * 500_000},
    {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com/" + "a" * 500_000},
    {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com",
     "models": [f"m{i:06d}" + "x" * 100 for i in range(4500)]},
], ids=["create_user.display_name", "create_channel.name", "create_channel.base_url", "create_channel.models"])
def test_oversized_create_fields_are_refused_and_write_nothing(world, event):
    before = _without_seq(snapshot_tables())
    reply = invoke(event)
    assert reply["ok"] is False and reply["error"] in ("invalid_request", "request_too_large"), reply
    assert _without_seq(snapshot_tables()) == before


def test_oversized_group_in_update_user_is_invalid_request(world):
    # create_user bounds group to 64 characters; update_user does not bound it at all
    reply = invoke({"op": "update_user", "user_id": world.user.user_id, "group": "g" * 500_000})
    assert reply["ok"] is False and reply["error"] == "invalid_request", reply
    assert reply["field"] == "group"


# ------------------------------------------------------------------ 3. lone surrogates -> internal_error
@pytest.mark.parametrize("event_of", [
    lambda uid: {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "secret": "ab\ud800cd"},
    lambda uid: {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "name": "ab\ud800cd"},
    lambda uid: {"op": "create_user", "username": "zed", "display_name": "ab\ud800cd"},
    lambda uid: {"op": "top_up", "user_id": uid, "amount": 5, "note": "\ud800"},
    lambda uid: {"op": "issue_key", "user_id": uid, "name": "\ud800"},
    lambda uid: {"op": "revoke", "token": "\ud800"},
], ids=["create_channel.secret", "create_channel.name", "create_user.display_name", "top_up.note",
        "issue_key.name", "revoke.token"])
def test_lone_surrogate_strings_are_invalid_request(world, event_of):
    """A console Test event is JSON: "\\ud800" is a valid JSON escape that Python decodes to a lone surrogate."""
    before = _without_seq(snapshot_tables())
    reply = invoke(event_of(world.user.user_id))
    assert reply["ok"] is False and reply["error"] in ("invalid_request", "not_found"), reply
    assert _without_seq(snapshot_tables()) == before


# ------------------------------------------------------------------ 4. integers without a bound
@pytest.mark.parametrize("event_of", [
    lambda uid: {"op": "top_up", "user_id": uid, "amount": 10**40},
    lambda uid: {"op": "create_user", "username": "richie", "quota": 10**40},
    lambda uid: {"op": "issue_key", "user_id": uid, "remaining_quota": 10**40},
    lambda uid: {"op": "create_channel", "type": "suno", "base_url": "https://x.example.com", "priority": 10**40},
], ids=["top_up.amount", "create_user.quota", "issue_key.remaining_quota", "create_channel.priority"])
def test_json_integers_are_bounded_like_digit_strings(world, event_of):
    """domain/numbers.py bounds every integer to 18 digits ("every integer we take fits a DynamoDB number and a
    signed 64-bit field") and the string "1" * 19 is refused; the same number as a JSON integer is taken."""
    uid = world.user.user_id
    as_string = invoke({"op": "top_up", "user_id": uid, "amount": "1" * 19})
    assert as_string["ok"] is False and as_string["error"] == "invalid_request"  # held before the fix too
    before = _without_seq(snapshot_tables())
    reply = invoke(event_of(uid))
    assert reply["ok"] is False and reply["error"] == "invalid_request", reply
    assert _without_seq(snapshot_tables()) == before


# ------------------------------------------------------------------ 5. username with a trailing newline
def test_username_with_trailing_newline_is_refused(world):
    """`^[A-Za-z0-9_.\\-]{3,40}$` with re.match: `$` also matches before a final "\\n"; docs/admin.md says a
    username is 3-40 of letters, digits, `_ . -`. "alice\\n" becomes a second, distinct "alice"."""
    reply = invoke({"op": "create_user", "username": world.user.username + "\n"})
    assert reply["ok"] is False and reply["error"] in ("invalid_request", "conflict"), reply


# ------------------------------------------------------------------ 6. base_url the outbound guard refuses
@pytest.mark.parametrize("url", [
    "https://localhost", "https://127.1", "https://2130706433", "https://0x7f000001",
    "https://metadata.google.internal",
])
def test_create_channel_refuses_hosts_the_guard_refuses(aws, url):
    """docs/admin.md create_channel: base_url must not be "an address the outbound guard refuses (private,
    loopback, link-local, ...)". Only IP literals in canonical form are checked: these are stored, and every
    call then fails at the guard (providers/http.resolve_public), a channel that can never work."""
    from taskcenter.providers import http

    with pytest.raises(http.UnsafeAddress):  # sanity: the guard itself refuses them at call time
        target = http.parse_url(url)
        http.resolve_public(target.host, target.port)
    reply = invoke({"op": "create_channel", "type": "suno", "base_url": url})
    assert reply["ok"] is False and reply["error"] == "invalid_request", reply


@pytest.mark.parametrize("url", ["https://x.exa mple.com", "https://x.example.com/\r\nHost: evil"])
def test_create_channel_refuses_spaces_and_control_characters(aws, url):
    """The webhook URL check refuses these (a 400, commit 8d31212); create_channel stores them and every
    call fails later (http.client refuses control characters; no host has a space)."""
    reply = invoke({"op": "create_channel", "type": "suno", "base_url": url})
    assert reply["ok"] is False and reply["error"] == "invalid_request", reply


# ------------------------------------------------------------------ 7. a secret removed with "" can never be set again
def test_a_secret_removed_with_empty_string_can_be_set_again(aws, monkeypatch):
    """docs/admin.md update_channel: `"secret": ""` removes the secret (scheduled for deletion). Setting one again
    later answers ok / has_secret true, but the value is written to the name still scheduled for deletion: the
    channel can never read it (moto); on AWS CreateSecret/PutSecretValue on a secret scheduled for deletion is an
    InvalidRequestException (internal_error) for the 30-day recovery window. Either way the channel stays
    without a credential: selection skips it ("channel secret unavailable")."""
    from taskcenter.services.core import channels
    from taskcenter.store.models import Channel

    monkeypatch.setenv("CHANNEL_SECRET_MAX_AGE_SECONDS", "0")
    cid = ok({"op": "create_channel", "type": "suno", "base_url": "https://suno.example.com", "secret": "k1"})["id"]
    assert ok({"op": "update_channel", "channel_id": cid, "secret": ""})["has_secret"] is False
    assert ok({"op": "update_channel", "channel_id": cid, "secret": "k2"})["has_secret"] is True
    channels.clear_cache()
    assert channels.info(Channel.get(cid)).secret == "k2"  # was TransientUpstreamError: no secret
    assert [c.id for c in channels.failover_order("suno")] == [cid]

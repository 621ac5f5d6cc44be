"""Task API v1 script_config checks, one per documented script, in the documented vocabulary
(tikmatrix-scripts.md §3; docs/task-api-v1.md, "Script configs"; differences: docs/compatibility.md).

Each check returns the config as the TikMatrix host is sent it: every documented field under its documented
name, with the documented default filled in when absent; keys the documentation does not list (the desktop
UI's extras such as `ai_label`) are kept as given. Numbers also arrive as numeric strings (the UI's radio
buttons). Follow/unfollow and comment return their targets under the documented array key
(`target_users`, `target_post_urls`); the fan-out gives each task a one-entry array. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from taskcenter.domain.v1_fields import bad, choice, flag, lines, number, split_list, str_list, text

MAX_SCRIPT_TARGETS = 100  # entries of one target list (one task each, per device)
_USERNAME = re.compile(r"^@?[A-Za-z0-9_.]{1,64}$")
ADD_SOUND = ("-1", "0", "1", "custom")
CHATGPT_MODELS_DOC = ("gpt-3.5-turbo", "gpt-4", "gpt-4-turbo")  # documented options; any model name is taken


def _keep(cfg: dict[str, Any], out: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The checked fields, plus every key the documentation does not list, kept as given."""
    extras = {k: v for k, v in cfg.items() if k not in out and k not in drop}
    return {**extras, **out}


# ---------------------------------------------------------------- post (§3.1)
def post(cfg: dict[str, Any]) -> dict[str, Any]:
    content_type = number(cfg, "content_type", low=0, high=1, default=0)
    add_sound = cfg.get("add_sound", "-1")
    if isinstance(add_sound, int) and not isinstance(add_sound, bool):
        add_sound = str(add_sound)
    if add_sound not in ADD_SOUND:
        raise bad('script_config.add_sound must be "-1" (default), "0" (off), "1" (on) or "custom"',
                  "script_config.add_sound")
    out: dict[str, Any] = {
        "content_type": content_type,
        "image_count": number(cfg, "image_count", low=1, high=35, default=1),
        "captions": text(cfg, "captions", max_len=50_000),
        "post_way": choice(cfg, "post_way", ("share", "addButton", "useSound"), "share"),
        "material_source": choice(cfg, "material_source", ("materialLibrary", "localFolder"), "materialLibrary"),
        "material_path": text(cfg, "material_path", max_len=1000),
        "material_list": str_list(cfg, "material_list", max_items=35, max_len=1000) or [],
        "materials_tags": text(cfg, "materials_tags", max_len=1000),
        "upload_wait_time": number(cfg, "upload_wait_time", low=0, high=3600, default=30),
        "sound_wait_time": number(cfg, "sound_wait_time", low=0, high=3600, default=10),
        "add_sound": add_sound,
        "sound_name": text(cfg, "sound_name", max_len=1000),
        "custom_sound_keyword": text(cfg, "custom_sound_keyword", max_len=200),
        "origin_sound_volume": number(cfg, "origin_sound_volume", low=0, high=100, default=50),
        "add_sound_volume": number(cfg, "add_sound_volume", low=0, high=100, default=50),
        "add_product_link": number(cfg, "add_product_link", low=0, high=1, default=0),
        "placement": choice(cfg, "placement", ("reel", "story"), "reel"),
    }
    if out["material_source"] == "localFolder" and not out["material_list"] and not out["material_path"].strip():
        raise bad("script_config.material_path is required when material_source is localFolder",
                  "script_config.material_path")
    if out["post_way"] == "useSound" and not out["sound_name"].strip():
        raise bad("script_config.sound_name is required when post_way is useSound", "script_config.sound_name")
    if add_sound == "custom" and not out["custom_sound_keyword"].strip():
        raise bad('script_config.custom_sound_keyword is required when add_sound is "custom"',
                  "script_config.custom_sound_keyword")
    return _keep(cfg, out)


# ---------------------------------------------------------------- follow / unfollow (§3.2)
_FOLLOW_KEYS = ("target_users", "target_user", "target_username", "target_usernames")


def follow_targets(cfg: dict[str, Any]) -> list[str]:
    """`target_users` > `target_user` > `target_username` (the examples' key) > `target_usernames` (this
    service's earlier name, kept for its clients: docs/compatibility.md). Same name with or without "@": once."""
    found: list[str] | None = None
    used = "target_users"
    for name in _FOLLOW_KEYS:
        many = name in ("target_users", "target_usernames")
        got = (str_list(cfg, name, max_items=MAX_SCRIPT_TARGETS, max_len=65) if many
               else split_list(cfg, name, max_items=MAX_SCRIPT_TARGETS, max_len=65))
        if got:
            found, used = got, name
            break
    if not found:
        raise bad("Missing target user: script_config.target_users (array) or target_user (text) is required",
                  "script_config.target_users")
    seen: dict[str, str] = {}
    for entry in found:
        if not _USERNAME.fullmatch(entry):  # match's `$` takes a final newline
            raise bad(f"script_config.{used} holds an invalid username: {entry[:64]!r}", f"script_config.{used}")
        seen.setdefault(entry.lstrip("@").lower(), entry)
    return list(seen.values())


def follow(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {"target_users": follow_targets(cfg),
           "access_method": choice(cfg, "access_method", ("direct", "search"), "direct")}
    return _keep(cfg, out, drop=_FOLLOW_KEYS)


# ---------------------------------------------------------------- comment (§3.3)
def comment(cfg: dict[str, Any]) -> dict[str, Any]:
    urls = (str_list(cfg, "target_post_urls", max_items=MAX_SCRIPT_TARGETS, max_len=1000)
            or split_list(cfg, "target_post_url", max_items=MAX_SCRIPT_TARGETS, max_len=1000))
    content = cfg.get("comment_content")
    if isinstance(content, list) and all(isinstance(c, str) for c in content):
        content = "\n".join(content)  # this service's earlier form (an array): one comment per line
    content = text({"comment_content": content}, "comment_content", max_len=50_000)
    if not urls or not lines(content):
        raise bad("Missing target post URL or comment content",
                  "script_config.target_post_url" if not urls else "script_config.comment_content")
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise bad(f"script_config target post URLs must be http(s) URLs: {url[:64]!r}",
                      "script_config.target_post_url")
    out = {
        "target_post_urls": list(dict.fromkeys(urls)),
        "comment_content": content,
        "comment_order": choice(cfg, "comment_order", ("random", "sequential"), "random"),
        "insert_emoji": flag(cfg, "insert_emoji", False),
        "comment_image_path": text(cfg, "comment_image_path", max_len=1000),
    }
    return _keep(cfg, out, drop=("target_post_url",))


# ---------------------------------------------------------------- account_warmup (§3.4)
def _chatgpt(cfg: dict[str, Any], required_key: bool) -> dict[str, Any]:
    raw = cfg.get("chatgpt_settings")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("script_config.chatgpt_settings must be an object", "script_config.chatgpt_settings")
    prefix = "script_config.chatgpt_settings."
    out: dict[str, Any] = {}
    # Both documented key sets: the docs' (api_key, model, prompt, max_tokens, temperature, base_url) and
    # the desktop UI's (url, api_key, model, system_prompt). Only the keys given are sent.
    for name in ("api_key", "model", "prompt", "base_url", "url", "system_prompt"):
        if name in raw:
            out[name] = text(raw, name, max_len=4000, prefix=prefix)
    if "max_tokens" in raw:
        out["max_tokens"] = number(raw, "max_tokens", low=1, high=100_000, default=100, prefix=prefix)
    if "temperature" in raw:
        out["temperature"] = number(raw, "temperature", low=0, high=2, default=0.7, integer=False, prefix=prefix)
    if required_key and not str(raw.get("api_key") or "").strip():
        raise bad("script_config.chatgpt_settings.api_key is required when generate_by_chatgpt is true",
                  "script_config.chatgpt_settings.api_key")
    return _keep(raw, out)


def account_warmup(cfg: dict[str, Any]) -> dict[str, Any]:
    probable = {name: number(cfg, name, low=0, high=100, default=0, integer=False)
                for name in ("like_probable", "floow_probable", "collect_probable", "comment_probable")}
    if cfg.get("floow_probable") is None and cfg.get("follow_probable") is not None:
        # The documented key is spelled "floow"; the correct spelling is taken as its alias (§3.4).
        probable["floow_probable"] = number(cfg, "follow_probable", low=0, high=100, default=0, integer=False)
    out: dict[str, Any] = {
        "task_duration": number(cfg, "task_duration", low=1, high=86_400, default=600, integer=False),
        "topic": text(cfg, "topic", max_len=10_000),
        "min_duration": number(cfg, "min_duration", low=0, high=86_400, default=15, integer=False),
        "max_duration": number(cfg, "max_duration", low=0, high=86_400, default=30, integer=False),
        **probable,
        "comment": text(cfg, "comment", max_len=50_000),
        "insert_emoji": flag(cfg, "insert_emoji", False),
        "comment_order": choice(cfg, "comment_order", ("random", "sequential"), "random"),
        "generate_by_chatgpt": flag(cfg, "generate_by_chatgpt", False),
    }
    if out["min_duration"] > out["max_duration"]:
        raise bad("script_config.min_duration must not be above max_duration", "script_config.min_duration")
    if "chatgpt_settings" in cfg or out["generate_by_chatgpt"]:
        out["chatgpt_settings"] = _chatgpt(cfg, out["generate_by_chatgpt"])
    return _keep(cfg, out, drop=("follow_probable",))


# ---------------------------------------------------------------- login, profile, match_accounts (§3.5-3.7)
def login(cfg: dict[str, Any]) -> dict[str, Any]:
    """Documented with no keys (`{}`: credentials come from the host's account list). This service's earlier
    username/password/email are still taken when given (docs/compatibility.md); secrets are sealed."""
    out = {name: text(cfg, name, max_len=200) for name in ("username", "password", "email") if name in cfg}
    return _keep(cfg, out)


def profile(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {
        "profile_order": choice(cfg, "profile_order", ("random", "sequential"), "random"),
        "nicknames": text(cfg, "nicknames", max_len=10_000),
        "usernames": text(cfg, "usernames", max_len=10_000),  # new usernames to set, one per line
        "bios": text(cfg, "bios", max_len=20_000),
        "link_url": text(cfg, "link_url", max_len=1000),
        "avatars_path": text(cfg, "avatars_path", max_len=1000),
    }
    return _keep(cfg, out)


def match_accounts(cfg: dict[str, Any]) -> dict[str, Any]:
    return dict(cfg)  # documented with no keys (`{}`)

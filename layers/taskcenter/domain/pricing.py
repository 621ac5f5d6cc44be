"""Prices: USD per call x group ratio, in integer quota units (500,000 units = 1 USD).

Defaults come from the reference (behaviour-notes.md); operators override them with the
`MODEL_PRICES` and `GROUP_RATIOS` environment variables (JSON objects merged over the defaults).
"""

from __future__ import annotations

from taskcenter import settings

QUOTA_PER_USD = 500_000

DEFAULT_PRICES_USD: dict[str, float] = {
    "suno_music": 0.1,
    "suno_lyrics": 0.01,
    "mj_imagine": 0.1,
    "mj_upscale": 0.05,
    "mj_variation": 0.1,
    "mj_reroll": 0.1,
    "mj_describe": 0.05,
    "mj_blend": 0.1,
    "mj_zoom": 0.1,
    "mj_pan": 0.1,
    "mj_shorten": 0.1,
    "mj_modal": 0.1,
    "mj_custom_zoom": 0.0,  # like INPAINT it only opens a modal (new-api prices it 0); the modal is charged
    "mj_high_variation": 0.1,
    "mj_low_variation": 0.1,
    "mj_inpaint": 0.0,  # INPAINT opens a modal; the modal submission is what costs
    "mj_upload": 0.0,
    "mj_edits": 0.1,  # new-api's defaults for the routes it added (newapi-relay-wire.md 3.1)
    "mj_video": 0.8,
    "swap_face": 0.05,
    # Device scripts (Task API v1): per task, i.e. per device (and per target where the script fans out).
    "v1_post": 0.002,
    "v1_follow": 0.001,
    "v1_unfollow": 0.001,
    "v1_comment": 0.001,
    "v1_account_warmup": 0.002,
    "v1_login": 0.001,
    "v1_profile": 0.001,
    "v1_match_accounts": 0.0,
}

DEFAULT_GROUP_RATIOS: dict[str, float] = {"default": 1.0, "vip": 1.0, "svip": 1.0}


def price_usd(model: str) -> float:
    prices = {**DEFAULT_PRICES_USD, **settings.get().model_prices}
    if model not in prices:
        raise KeyError(model)
    return float(prices[model])


def group_ratio(group: str) -> float:
    ratios = {**DEFAULT_GROUP_RATIOS, **settings.get().group_ratios}
    return float(ratios.get(group or "default", ratios.get("default", 1.0)))


def quota_for(model: str, group: str) -> int:
    """Integer quota charged for one call of `model` by a user in `group` (rounded half up)."""
    return int(price_usd(model) * group_ratio(group) * QUOTA_PER_USD + 0.5)

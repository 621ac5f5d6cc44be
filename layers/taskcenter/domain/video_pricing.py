"""Video prices: USD per second of video, per model and per resolution, in the same quota units as every
other price (500,000 units = 1 USD, times the group ratio; docs/video.md, "Pricing and settlement").

A price is looked up in MODEL_PRICES (merged over the defaults below) under `video:<model>@<size>` first,
then `video:<model>`: an operator sets a model's per-second price and, where a resolution costs more, that
resolution's. Submission charges `seconds requested x price`; completion settles what the upstream says it
produced (services/video/settlement.py).
"""

from __future__ import annotations

import math

from taskcenter import settings
from taskcenter.domain.pricing import QUOTA_PER_USD, group_ratio

PREFIX = "video:"

# OpenAI's published Sora 2 prices (USD per second): sora-2 $0.10 (720p); sora-2-pro $0.30 (720p),
# $0.50 (1024p: 1792x1024 / 1024x1792), $0.70 (1080p).
DEFAULT_VIDEO_PRICES_USD: dict[str, float] = {
    "video:sora-2": 0.10,
    "video:sora-2-pro": 0.30,
    "video:sora-2-pro@1792x1024": 0.50,
    "video:sora-2-pro@1024x1792": 0.50,
    "video:sora-2-pro@1920x1080": 0.70,
    "video:sora-2-pro@1080x1920": 0.70,
    # Kling (new-api has no default; Kling's list prices about 0.14 USD per 5 s standard, 0.245 professional):
    # every kling-* model, by mode (std / pro) where a model has no price of its own.
    "video:kling": 0.028,
    "video:kling@pro": 0.049,
    # Doubao Seedance (new-api bills its tokens; ours is per second by resolution, every doubao-seedance-* model)
    "video:doubao-seedance": 0.03,
    "video:doubao-seedance@480p": 0.015,
    "video:doubao-seedance@1080p": 0.07,
    # Veo (Google's list prices; new-api's defaults x its seconds ratio; 4k x 1.5 / x 2.333 as new-api)
    "video:veo-3.0-generate-001": 0.40,
    "video:veo-3.0-fast-generate-001": 0.15,
    "video:veo-3.1-generate-preview": 0.40,
    "video:veo-3.1-generate-preview@4k": 0.60,
    "video:veo-3.1-fast-generate-preview": 0.15,
    "video:veo-3.1-fast-generate-preview@4k": 0.35,
}


def _prices() -> dict[str, float]:
    return {**DEFAULT_VIDEO_PRICES_USD, **settings.get().model_prices}


def base_model(model: str) -> str:
    """Dated snapshots share their family's price (sora-2-2025-10-06 -> sora-2); kling-* models share
    `kling`, doubao-seedance-* share `doubao-seedance`."""
    for family in ("sora-2-pro", "sora-2"):
        if model == family or model.startswith(family + "-20"):
            return family
    if model.startswith("kling-"):
        return "kling"
    if model.startswith("doubao-seedance-"):
        return "doubao-seedance"
    return model


def usd_per_second(model: str, size: str) -> float:
    """KeyError when no price is configured for the model."""
    prices = _prices()
    for name in (model, base_model(model)):
        for key in (f"{PREFIX}{name}@{size}", f"{PREFIX}{name}"):
            if key in prices:
                return float(prices[key])
    raise KeyError(model)


def quota_for(model: str, size: str, seconds: float, group: str) -> int:
    """Quota for `seconds` of `model` at `size` by a user in `group` (rounded half up, never negative)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("seconds must be a finite number >= 0")
    return int(usd_per_second(model, size) * seconds * group_ratio(group) * QUOTA_PER_USD + 0.5)


def priced_models() -> tuple[str, ...]:
    """The models with a price (for the platform table's `models`)."""
    return tuple(sorted({key[len(PREFIX):].split("@", 1)[0] for key in _prices() if key.startswith(PREFIX)}))

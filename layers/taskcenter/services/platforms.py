"""The platform table: every platform the task center serves, one row each (docs/architecture.md).

A row names the platform's provider adapter, the pricing models its tasks are charged as, and the
rules only it has (admission before submission, a hook after the terminal move, queue message kinds).
Adding a platform = its provider adapter, its surface package under services/, and one row here.
Core reads this table through `core.platform_registry`, installed by the composition root.
"""

from __future__ import annotations

from taskcenter.domain.pricing import DEFAULT_PRICES_USD
from taskcenter.providers.kling import KlingProvider
from taskcenter.providers.midjourney import MidjourneyProvider
from taskcenter.providers.seedance import SeedanceProvider
from taskcenter.providers.sora import SoraProvider
from taskcenter.providers.suno import SunoProvider
from taskcenter.providers.tikmatrix import TikMatrixProvider
from taskcenter.providers.veo import VeoProvider
from taskcenter.services.core.platform_registry import Platform
from taskcenter.services.midjourney import image_proxy
from taskcenter.services.midjourney import relay as mj_relay
from taskcenter.services.suno import relay as suno_relay
from taskcenter.services.task_api_v1 import admission, manual_retry, task_endpoints
from taskcenter.services.video import content as video_content
from taskcenter.services.video import settlement as video_settlement


def _models(prefix: str) -> tuple[str, ...]:
    return tuple(name for name in DEFAULT_PRICES_USD if name.startswith(prefix))


TABLE: dict[str, Platform] = {
    # result_urls: the files the result keeper copies (docs/results.md)
    "suno": Platform(name="suno", provider=SunoProvider, models=_models("suno_"),
                     result_urls=suno_relay.result_urls, shown_data=suno_relay.kept_data),
    "midjourney": Platform(name="midjourney", provider=MidjourneyProvider, models=_models("mj_"),
                           result_urls=image_proxy.result_urls,
                           hook_payload=mj_relay.hook_payload),  # notifyHook (docs/webhooks.md)
    "tikmatrix": Platform(
        name="tikmatrix", provider=TikMatrixProvider, models=_models("v1_"),
        admission=admission.admission_check,  # device and plan slots (docs/task-api-v1.md)
        on_terminal=admission.on_terminal,  # frees the task's slots at once
        message_kinds={"v1_retry_all_page": manual_retry.handle_retry_message},
        event_data=task_endpoints.event_data,  # webhook events name the id the Task API takes
    ),
    "sora": Platform(
        name="sora", provider=SoraProvider, models=("video:sora-2", "video:sora-2-pro"),
        settled_charge=video_settlement.settled_charge,  # settles what the upstream produced (docs/video.md)
        listing_platform="55",  # new-api's channel type for Sora (docs/video.md, "Dashboards")
        result_urls=video_content.result_urls,  # kept through the adapter, with the key (docs/results.md)
    ),
    "kling": Platform(
        name="kling", provider=KlingProvider, models=("video:kling",),
        settled_charge=video_settlement.settled_charge, listing_platform="50",  # new-api's channel type for Kling
        result_urls=video_content.public_result_urls,  # kept in the results bucket (docs/results.md)
    ),
    "doubao": Platform(
        name="doubao", provider=SeedanceProvider, models=("video:doubao-seedance",),
        settled_charge=video_settlement.settled_charge, listing_platform="54",  # new-api's DoubaoVideo channel type
        result_urls=video_content.public_result_urls,
    ),
    "gemini": Platform(
        name="gemini", provider=VeoProvider, models=("video:veo-3.0-generate-001", "video:veo-3.1-generate-preview"),
        settled_charge=video_settlement.settled_charge, listing_platform="24",  # new-api's Gemini channel type
        result_urls=video_content.result_urls,
    ),
}

"""The platform table: every platform the task center serves, one row each (docs/architecture.md).

A row names the platform's provider adapter, the pricing models its tasks are charged as, and the
rules only it has (admission before submission, a hook after the terminal move, queue message kinds).
Adding a platform = its provider adapter, its surface package under services/, and one row here.
Core reads this table through `core.platform_registry`, installed by the composition root.
"""

from __future__ import annotations

from taskcenter.domain.pricing import DEFAULT_PRICES_USD
from taskcenter.providers.midjourney import MidjourneyProvider
from taskcenter.providers.suno import SunoProvider
from taskcenter.providers.tikmatrix import TikMatrixProvider
from taskcenter.services.core.platform_registry import Platform
from taskcenter.services.midjourney import relay as mj_relay
from taskcenter.services.task_api_v1 import admission, manual_retry


def _models(prefix: str) -> tuple[str, ...]:
    return tuple(name for name in DEFAULT_PRICES_USD if name.startswith(prefix))


TABLE: dict[str, Platform] = {
    "suno": Platform(name="suno", provider=SunoProvider, models=_models("suno_")),
    "midjourney": Platform(name="midjourney", provider=MidjourneyProvider, models=_models("mj_"),
                           hook_payload=mj_relay.hook_payload),  # notifyHook (docs/webhooks.md)
    "tikmatrix": Platform(
        name="tikmatrix", provider=TikMatrixProvider, models=_models("v1_"),
        admission=admission.admission_check,  # device and plan slots (docs/task-api-v1.md)
        on_terminal=admission.on_terminal,  # frees the task's slots at once
        message_kinds={"v1_retry_all_page": manual_retry.handle_retry_message},
    ),
}

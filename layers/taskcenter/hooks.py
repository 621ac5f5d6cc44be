"""Platform hooks that the shared paths call without importing the platform's modules up front.

- `after_terminal(task)`: store.tasks.transition calls it after it wins a move to SUCCESS or FAILURE
  (Task API v1 frees the task's device and plan slots there). A hook never breaks the transition: errors
  are logged (v1 slots also heal on their own, see services/v1_admission.py).
- `load_platform(platform)`: submission imports a platform's module before its admission check, so the
  check is registered in every process that dispatches (API, retry worker), whatever it imported first.
"""

from __future__ import annotations

import importlib
from typing import Any

from taskcenter.observability import logger

# platform -> module that registers its admission check (submission.register_admission) and has on_terminal
PLATFORM_MODULES: dict[str, str] = {"tikmatrix": "taskcenter.services.task_api_v1.admission"}


def load_platform(platform: str) -> Any:
    name = PLATFORM_MODULES.get(platform)
    return importlib.import_module(name) if name else None


def after_terminal(task: Any) -> None:
    try:
        module = load_platform(task.platform)
        if module is not None and hasattr(module, "on_terminal"):
            module.on_terminal(task)
    except Exception:
        logger.exception("terminal hook failed", extra={"task_id": getattr(task, "task_id", "")})

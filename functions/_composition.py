"""The composition root: what the shared layer's core is given before any handler runs.

Core may not import the platform packages (docs/architecture.md, "Rules"); it is given the platform
table here, as a loader, so a route that never needs a platform never imports one (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskcenter.services.core import platform_registry

from functions._http import lazy_module

if TYPE_CHECKING:
    from taskcenter.services import platforms
else:
    platforms = lazy_module("taskcenter.services.platforms")  # loaded by the first call that needs a platform


def install() -> None:
    platform_registry.install(lambda: platforms.TABLE)

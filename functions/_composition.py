"""The composition root: what the shared layer's core is given before any handler runs.

Core may not import the platform packages (docs/architecture.md, "Rules"); it is given the platform
table here, as a loader, so a function that never needs a platform never imports one (cold start:
the table imports every provider adapter and the Task API v1 rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from taskcenter.services.core import platform_loader  # the registry itself loads on first use (cold start)

if TYPE_CHECKING:
    from taskcenter.services.core.platform_registry import Platform


def _platform_table() -> Mapping[str, Platform]:
    from taskcenter.services import platforms  # on first use (see the module doc)

    return platforms.TABLE


def install() -> None:
    platform_loader.install(_platform_table)

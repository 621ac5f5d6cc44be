"""`make openapi`: write docs/openapi.json from the Chalice app's routes (strict: no drift allowed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "openapi.json"


def render() -> str:
    for p in (str(ROOT), str(ROOT / "layers")):
        if p not in sys.path:
            sys.path.insert(0, p)
    from taskcenter import api_description

    from app import app

    document = api_description.build(api_description.routes_of(app), "/")
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

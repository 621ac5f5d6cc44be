"""The local stack: `python -m infra.local` (docs/local-stack.md)."""

import os
import sys

# The shared layer (`taskcenter`), as app.py does: works whether or not `pip install -e .` ran.
_LAYER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "layers")
if os.path.isdir(_LAYER) and _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)

"""`python -m tests.chaos [--tasks N]`: see tests/chaos/run.py and docs/chaos.md."""

from tests.chaos.run import main

raise SystemExit(main())

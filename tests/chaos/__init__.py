"""The chaos run (issue 7): the local stack with fault injection, many tasks, and the invariants checked.

`python -m tests.chaos --tasks 1000` (or `make chaos`); docs/chaos.md.
"""

"""Plug-in components of the local stack (simulated upstreams, the event runner).

Every module here with `start(ctx) -> Component | None` and an `ORDER` int is started by
`python -m infra.local`; the contract is in infra/local/context.py and docs/local-stack.md.
"""

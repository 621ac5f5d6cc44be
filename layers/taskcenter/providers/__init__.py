"""Upstream providers: one adapter per channel type, all over `SafeHttp`; each is one row of the platform
table, services/platforms.py (docs/architecture.md#providers-and-channels)."""

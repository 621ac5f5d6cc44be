"""Upstream providers (DESIGN.md section 7): one adapter per channel type, all over `SafeHttp`."""

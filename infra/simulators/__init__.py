"""Simulated upstream providers (Suno API, midjourney-proxy, TikMatrix host) for tests and the local stack."""

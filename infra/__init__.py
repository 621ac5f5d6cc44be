"""Tooling: local stack, build and packaging, template generation, admin CLI."""

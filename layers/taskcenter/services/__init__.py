"""Use cases: combine domain rules, storage and providers. Handlers call these."""

"""Results kept: every platform's result files copied from the upstream into the results bucket once a task
succeeds, and served from there (docs/results.md). `keeping` is the keep worker's rules, `serving` what the
result routes ask."""

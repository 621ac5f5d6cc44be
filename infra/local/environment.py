"""The one place that computes the environment of the API and the workers on the local stack."""

from __future__ import annotations

from typing import Any

from taskcenter.config import QUEUE_ENV, TABLE_ENV

from infra.local.cfn import Resources, binding_environment

REGION = "us-east-1"

# Fake credentials: moto accepts anything, and nothing can reach a real account with these.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}

# Variables a developer's shell may carry that would point the stack at a real account or profile.
SCRUBBED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


def _guess(logical: str, candidates: dict[str, str], *, dead_letter: bool = False) -> str | None:
    """Fallback when the template binds no variable: `UsersTable` serves `users`, `PollDeadLetterQueue` the DLQ."""
    for logical_id, value in sorted(candidates.items()):
        lid = logical_id.lower()
        is_dlq = "deadletter" in lid or "dlq" in lid
        if lid.startswith(logical) and is_dlq == dead_letter:
            return value
    return None


def stack_env(*, moto_url: str, api_url: str, template: dict[str, Any], resources: Resources) -> dict[str, str]:
    env = binding_environment(template, resources)
    for logical, variable in TABLE_ENV.items():
        if variable not in env:
            found = _guess(logical, resources.tables)
            if found:
                env[variable] = found
    urls = {lid: q.url for lid, q in resources.queues.items()}
    for logical, variable in QUEUE_ENV.items():
        if variable not in env:
            found = _guess(logical, urls)
            if found:
                env[variable] = found
        dlq_variable = variable.replace("_URL", "_DLQ_URL")
        if dlq_variable not in env:
            found = _guess(logical, urls, dead_letter=True)
            if found:
                env[dlq_variable] = found
    env.update(FAKE_CREDENTIALS)
    env.update({
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
        "DYNAMODB_ENDPOINT_URL": moto_url,
        "SQS_ENDPOINT_URL": moto_url,
        "PUBLIC_BASE_URL": api_url,
        "PRIVATE_HOST_ALLOWLIST": "",  # components add their simulators' host:port
        "POWERTOOLS_SERVICE_NAME": "task-center",
        "POWERTOOLS_METRICS_NAMESPACE": "TaskCenter",
        "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF blobs in the local logs
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "TASKCENTER_LOCAL_STACK": "1",
    })
    missing = [v for v in (*TABLE_ENV.values(), *QUEUE_ENV.values()) if not env.get(v)]
    if missing:
        raise ValueError(f"template.yaml declares nothing for {missing}")
    return env

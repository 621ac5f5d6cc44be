"""The moto server's state as JSON, dumped and loaded inside the server (docs/local-stack.md, "What survives a
restart").

moto keeps everything in memory and has no snapshot of its own (its recorder replays every request ever made,
including receives and time-dependent conditional writes, which do not replay to the same state). This dumps
what the service keeps:
- DynamoDB: every item of every table, in the wire format (typed attribute values), taken while holding the
  DynamoDB lock of moto_main: no request runs in between, so a transaction is in the dump entirely or not at
  all (a Scan over HTTP could see the users table before a charge and the ledger after it);
- SQS: every message of every queue (body, attributes, FIFO group and deduplication ids), visible or not;
  restored as new sends (receive counts start again, in-flight messages are visible at once);
- Secrets Manager: each secret's current value, description, tags, KMS key id and ARN (kept, so stored
  references hold), if the service has been used;
- KMS: symmetric keys with their id, ARN and key material (so ciphertexts still decrypt) and aliases.
Loading puts the items and messages into resources that exist (the stack creates them from template.yaml
first); a table or queue that no longer exists is skipped and counted.

    GET  /_local/state   -> the JSON document
    POST /_local/state   <- the JSON document; answers the counts loaded
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

PATH = "/_local/state"
FORMAT = 1


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend moto has instantiated (never forces one into being)."""
    for account in list(dict.keys(backend_dict)):
        regions = dict.__getitem__(backend_dict, account)
        for region in list(dict.keys(regions)):
            yield account, region, dict.__getitem__(regions, region)


# ---------------------------------------------------------------- DynamoDB
def dump_dynamodb() -> list[dict[str, Any]]:
    from moto.dynamodb.models import dynamodb_backends

    return [{"account": account, "region": region, "table": name,
             "items": [item.to_json()["Attributes"] for item in table.all_items()]}
            for account, region, backend in _backends(dynamodb_backends) for name, table in backend.tables.items()]


def load_dynamodb(tables: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from moto.dynamodb.models import dynamodb_backends

    for entry in tables:
        backend = dynamodb_backends[entry["account"]][entry["region"]]
        if entry["table"] not in backend.tables:
            counts["tables_skipped"] += 1
            continue
        for attributes in entry["items"]:
            backend.put_item(entry["table"], attributes)
            counts["items"] += 1
        shard = backend.tables[entry["table"]].stream_shard
        if shard is not None:  # a restore is not a write: the stream starts after the loaded items
            shard.starting_sequence_number += len(shard.items)
            shard.items = []


# ---------------------------------------------------------------- SQS
def dump_sqs() -> list[dict[str, Any]]:
    from moto.sqs.models import sqs_backends

    queues = []
    for account, region, backend in _backends(sqs_backends):
        for name, queue in backend.queues.items():
            with queue._messages_lock:  # moto's own lock around a queue's message list
                messages = [{"body": m.body, "attributes": m.message_attributes, "group_id": m.group_id,
                             "deduplication_id": m.deduplication_id} for m in queue._messages]
            queues.append({"account": account, "region": region, "queue": name, "messages": messages})
    return queues


def load_sqs(queues: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from moto.sqs.models import sqs_backends

    for entry in queues:
        backend = sqs_backends[entry["account"]][entry["region"]]
        if entry["queue"] not in backend.queues:
            counts["queues_skipped"] += 1
            continue
        for message in entry["messages"]:
            backend.send_message(entry["queue"], message["body"], message_attributes=message["attributes"] or None,
                                 delay_seconds=0, deduplication_id=message["deduplication_id"],
                                 group_id=message["group_id"])
            counts["messages"] += 1


# ---------------------------------------------------------------- Secrets Manager
def dump_secrets() -> list[dict[str, Any]]:
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    found = []
    for account, region, backend in _backends(secretsmanager_backends):
        for secret in dict.values(backend.secrets):
            if not isinstance(secret, FakeSecret) or getattr(secret, "deleted_date", None):
                continue  # replicas are recreated by their primary; deleted ones stay deleted
            current = secret.versions.get(secret.default_version_id or "", {})  # AWSCURRENT
            found.append({"account": account, "region": region, "name": secret.name, "arn": secret.arn,
                          "secret_string": current.get("secret_string"), "secret_binary": current.get("secret_binary"),
                          "description": secret.description, "tags": secret.tags,
                          "kms_key_id": secret.kms_key_id})
    return found


def load_secrets(secrets: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from moto.secretsmanager.models import secretsmanager_backends

    for entry in secrets:
        backend = secretsmanager_backends[entry["account"]][entry["region"]]
        if entry["name"] in backend.secrets:
            counts["secrets_skipped"] += 1
            continue
        backend.create_secret(name=entry["name"], secret_string=entry["secret_string"],
                              secret_binary=entry["secret_binary"], description=entry["description"],
                              tags=entry["tags"] or None, kms_key_id=entry["kms_key_id"], client_request_token=None,
                              replica_regions=[], force_overwrite=False)
        backend.secrets[entry["name"]].arn = entry["arn"]  # the random ARN suffix, as references stored it
        counts["secrets"] += 1


# ---------------------------------------------------------------- KMS
def dump_kms() -> list[dict[str, Any]]:
    from moto.kms.models import kms_backends

    keys = []
    for account, region, backend in _backends(kms_backends):
        for key in backend.keys.values():
            if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_manager != "CUSTOMER":
                continue  # asymmetric keys' private keys are not kept; AWS-managed keys are recreated on use
            keys.append({"account": account, "region": region, "id": key.id, "arn": key.arn,
                         "material": base64.b64encode(key.key_material).decode(), "policy": key.policy,
                         "key_usage": key.key_usage, "description": key.description, "enabled": key.enabled,
                         "key_state": key.key_state, "origin": key.origin, "aliases": sorted(key.aliases)})
    return keys


def load_kms(keys: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from moto.kms.models import kms_backends

    for entry in keys:
        backend = kms_backends[entry["account"]][entry["region"]]
        if entry["id"] in backend.keys:
            counts["keys_skipped"] += 1
            continue
        key = backend.create_key(entry["policy"], entry["key_usage"], "SYMMETRIC_DEFAULT", entry["description"],
                                 None, origin=entry["origin"])
        backend.keys.pop(key.id)
        key.id, key.arn = entry["id"], entry["arn"]
        key.key_material = base64.b64decode(entry["material"])
        key.enabled, key.key_state = entry["enabled"], entry["key_state"]
        backend.keys[key.id] = key
        taken = {alias for k in backend.keys.values() for alias in k.aliases}
        for alias in entry["aliases"]:
            if alias not in taken:
                backend.create_alias(key.id, alias)
        counts["keys"] += 1


# ---------------------------------------------------------------- the document
def dump() -> dict[str, Any]:
    return {"format": FORMAT, "dynamodb": dump_dynamodb(), "sqs": dump_sqs(), "secretsmanager": dump_secrets(),
            "kms": dump_kms()}


def load(document: dict[str, Any]) -> dict[str, int]:
    if document.get("format") != FORMAT:
        raise ValueError(f"unknown snapshot format {document.get('format')!r}")
    counts = dict.fromkeys(("items", "tables_skipped", "messages", "queues_skipped", "secrets", "secrets_skipped",
                            "keys", "keys_skipped"), 0)
    load_kms(document.get("kms") or [], counts)  # keys first: secrets may name one
    load_secrets(document.get("secretsmanager") or [], counts)
    load_dynamodb(document.get("dynamodb") or [], counts)
    load_sqs(document.get("sqs") or [], counts)
    return counts


def state_routes(app: Callable[..., Iterable[bytes]], lock: threading.Lock) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: GET/POST /_local/state, holding `lock` (moto_main's DynamoDB lock) throughout."""

    from moto.dynamodb.models.utilities import DynamoJsonEncoder

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return app(environ, start_response)
        try:
            if environ["REQUEST_METHOD"] == "GET":
                with lock:
                    body = json.dumps(dump(), cls=DynamoJsonEncoder).encode()  # bytes (B, BS) as base64
            elif environ["REQUEST_METHOD"] == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                document = json.loads(environ["wsgi.input"].read(length))
                with lock:
                    body = json.dumps(load(document)).encode()
            else:
                start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
                return [b"GET or POST"]
        except Exception as error:  # local tooling: say what failed, keep serving
            with contextlib.suppress(Exception):
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [f"{type(error).__name__}: {error}".encode()]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return wrapped

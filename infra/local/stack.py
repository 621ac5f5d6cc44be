"""Start the whole Task Center stack on one machine (docs/local-stack.md).

Order: moto server -> tables and queues from template.yaml -> components with ORDER < 50 (simulated
upstreams) -> seeding through the admin operations -> the API (`chalice local`) -> components with
ORDER >= 50 (the event runner) -> credentials file, curl examples. Stop is the reverse order.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from taskcenter import settings

from infra.local import cfn, reseed, snapshot
from infra.local.banner import banner, check
from infra.local.context import (
    API_ORDER,
    HOST,
    ChannelSeed,
    Component,
    ProcessComponent,
    StackContext,
    free_port,
    spawn_process,
    wait_http,
)
from infra.local.environment import SCRUBBED, stack_env
from infra.local.supervisor import Supervisor, moto_restarter, processes

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MOTO_PORT = 5010
DEFAULT_API_PORT = 8000
DEMO_QUOTA = 50_000_000  # 100 USD at 500,000 units per USD
ADMIN_QUOTA = 10_000_000
ACCOUNTS = (("admin", 10, ADMIN_QUOTA), ("demo", 1, DEMO_QUOTA))  # (username, role, quota) seeded


def say(message: str) -> None:
    print(f"[local] {message}", flush=True)


# ---------------------------------------------------------------- template
def fallback_template() -> dict[str, Any]:
    """Used only while template.yaml does not exist yet: the same shape, derived from the PynamoDB models."""
    from taskcenter.config import QUEUE_ENV, TABLE_ENV
    from taskcenter.store.models import ALL_MODELS

    def pascal(name: str) -> str:
        return "".join(part.capitalize() for part in name.split("_"))

    resources: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for model in ALL_MODELS:
        schema = model._get_schema()
        props: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": schema[
            "attribute_definitions"], "KeySchema": schema["key_schema"]}
        gsis = [{"IndexName": g["index_name"], "KeySchema": g["key_schema"], "Projection": g["projection"]}
                for g in schema.get("global_secondary_indexes", [])]
        if gsis:
            props["GlobalSecondaryIndexes"] = gsis
        definitions = {d["AttributeName"]: d for d in schema["attribute_definitions"]}
        for g in schema.get("global_secondary_indexes", []):
            definitions.update({d["AttributeName"]: d for d in g.get("attribute_definitions", [])})
        props["AttributeDefinitions"] = list(definitions.values())
        logical = model.Meta.logical  # type: ignore[attr-defined]
        resources[f"{pascal(logical)}Table"] = {"Type": cfn.TABLE_TYPE, "Properties": props}
        variables[TABLE_ENV[logical]] = {"Ref": f"{pascal(logical)}Table"}
    resources["IdempotencyTable"] = {"Type": cfn.TABLE_TYPE, "Properties": {
        "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expiration"}}}
    variables[TABLE_ENV["idempotency"]] = {"Ref": "IdempotencyTable"}
    for logical, variable in QUEUE_ENV.items():
        name = pascal(logical)
        resources[f"{name}DeadLetterQueue"] = {"Type": cfn.QUEUE_TYPE, "Properties": {
            "MessageRetentionPeriod": 1209600}}
        resources[f"{name}Queue"] = {"Type": cfn.QUEUE_TYPE, "Properties": {
            "VisibilityTimeout": 60, "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [f"{name}DeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}}}
        variables[variable] = {"Ref": f"{name}Queue"}
    from infra import template_kms  # the v1 script-secrets key, as the template declares it

    resources.update({lid: r for lid, r in template_kms.resources().items() if r["Type"] == cfn.KEY_TYPE})
    variables.update(template_kms.environment())
    return {"Globals": {"Function": {"Environment": {"Variables": variables}}}, "Resources": resources}


def read_template(root: Path) -> dict[str, Any]:
    path = root / "template.yaml"
    if path.exists():
        return cfn.load_template(path)
    say("template.yaml not found (run `make template`): using tables and queues derived from the models")
    return fallback_template()


# ---------------------------------------------------------------- components
def discover_components() -> list[ModuleType]:
    """Every module in infra/local/components with a `start`, by ORDER; a module that fails to import is skipped."""
    import infra.local.components as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package.__name__}.{info.name}")
        except Exception:
            say(f"component {info.name!r} failed to import; skipped:\n{traceback.format_exc()}")
            continue
        if not callable(getattr(module, "start", None)):
            say(f"component {info.name!r} has no start(ctx); skipped")
            continue
        found.append(module)
    return sorted(found, key=lambda m: (int(getattr(m, "ORDER", 100)), m.__name__))


class LocalStack:
    def __init__(self, *, moto_port: int, api_port: int, state_dir: Path, verbose: bool = False,
                 components: bool = True, persist: bool = True, fresh: bool = False) -> None:
        self.moto_port = moto_port or free_port()
        self.api_port = api_port or free_port()
        self.state_dir = state_dir
        self.verbose = verbose
        self.use_components = components
        self.started: list[Component] = []
        self.failed: list[str] = []
        self.ctx: StackContext | None = None
        self.persist, self.fresh = persist, fresh  # state kept across restarts (infra/local/snapshot.py)
        self.snapshots: snapshot.Snapshots | None = None

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    # ------------------------------------------------------------ start
    def start(self) -> StackContext:
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "credentials.json").unlink(missing_ok=True)  # its presence means "ready"
        for variable in SCRUBBED:
            os.environ.pop(variable, None)

        self._start_moto()
        template = read_template(ROOT)
        resources = self._create_resources(template)
        restored = snapshot.open_state(self.state_dir, self.moto_url, fresh=self.fresh, persist=self.persist, say=say)
        env = stack_env(moto_url=self.moto_url, api_url=self.api_url, template=template, resources=resources)
        os.environ.update(env)  # seeding and in-process components run in this process, against the same stack
        settings.follow_environment(True)  # ... and the components add variables (PRIVATE_HOST_ALLOWLIST) as they start
        ctx = StackContext(root=ROOT, state_dir=self.state_dir, moto_url=self.moto_url, api_url=self.api_url,
                           env=env, template=template, tables=resources.tables, queues=resources.queues,
                           verbose=self.verbose)
        self.ctx = ctx
        say(f"{len(resources.tables)} tables, {len(resources.queues)} queues, {len(resources.buckets)} buckets and "
            f"{len(resources.keys)} KMS keys "
            f"created on {self.moto_url}")

        modules = discover_components() if self.use_components else []
        for module in (m for m in modules if int(getattr(m, "ORDER", 100)) < API_ORDER):
            self._start_component(module, ctx)
        os.environ.update(ctx.env)
        ctx.credentials = seed(ctx) if restored is None else reseed.seed_restored(
            ctx, op=_op, accounts=ACCOUNTS, channel_event=channel_event, say=say)
        if self.persist:
            reseed.save(ctx)  # the plaintext tokens: only their hashes are in the tables
        self._start_api(ctx)
        for module in (m for m in modules if int(getattr(m, "ORDER", 100)) >= API_ORDER):
            self._start_component(module, ctx)
        self._write_credentials(ctx)
        if self.persist:
            self.snapshots = snapshot.Snapshots(self.moto_url, self.state_dir / snapshot.STATE_FILE,
                                                interval=snapshot.interval_from_env(), say=say).start()
        say(f"ready in {time.monotonic() - began:.1f}s")
        return ctx

    def _start_moto(self) -> None:
        argv = [sys.executable, "-m", "infra.local.moto_main", "--host", HOST, "--port", str(self.moto_port)]
        log = None if self.verbose else self._log("moto")
        env = dict(os.environ)

        def respawn() -> Any:  # the supervisor restarts a crashed moto server the same way
            return spawn_process(argv, cwd=ROOT, env=env, log=log)

        moto = ProcessComponent("moto", self.moto_url, respawn(), respawn=respawn,
                                ready_url=f"{self.moto_url}/moto-api/", timeout=20)
        self.started.append(moto)
        wait_http(f"{self.moto_url}/moto-api/", timeout=20, proc=moto.proc)

    def _create_resources(self, template: dict[str, Any]) -> cfn.Resources:
        import boto3

        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                        region_name="us-east-1")
        resources = cfn.create_resources(template, session.client("dynamodb", endpoint_url=self.moto_url),
                                         session.client("sqs", endpoint_url=self.moto_url))
        resources = cfn.create_buckets(template, session.client("s3", endpoint_url=self.moto_url), resources)
        return cfn.create_keys(template, session.client("kms", endpoint_url=self.moto_url), resources)

    def _start_api(self, ctx: StackContext) -> None:
        # chalice local with a listen backlog for concurrent clients (infra/local/api_server.py)
        argv = [sys.executable, "-m", "infra.local.api_server", "--host", HOST, "--port", str(self.api_port)]
        api = ctx.spawn("api", argv, url=self.api_url, ready_url=f"{self.api_url}/api/user/self", timeout=30)
        self.started.append(api)
        say(f"API (chalice local) on {self.api_url}")

    def _start_component(self, module: ModuleType, ctx: StackContext) -> None:
        name = module.__name__.rsplit(".", 1)[-1]
        try:
            component = module.start(ctx)
        except Exception:
            self.failed.append(name)
            say(f"component {name!r} failed to start; skipped:\n{traceback.format_exc()}")
            return
        if component is not None:
            self.started.append(component)
            say(f"component {component.name} started" + (f" on {component.url}" if component.url else ""))

    def _log(self, name: str) -> Path:
        path = self.state_dir / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _write_credentials(self, ctx: StackContext) -> None:
        document = {
            "api_url": self.api_url,
            "moto_url": self.moto_url,
            **ctx.credentials,
            "components": {c.name: c.url for c in self.started},
            "pids": {p.name: p.pid for p in processes(self.started)},  # a restart changes them (supervisor)
            "failed_components": self.failed,
            "env": ctx.env,
            "pid": os.getpid(),
        }
        path = self.state_dir / "credentials.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)  # atomic: a reader sees the whole file or none

    # ------------------------------------------------------------ run
    def stop(self) -> None:
        for component in reversed(self.started):
            if component.name == "moto" and self.snapshots:
                self.snapshots.close()  # the final snapshot, once nothing else writes
            try:
                component.stop()
            except Exception:
                say(f"stopping {component.name} failed:\n{traceback.format_exc()}")
        self.started.clear()
        (self.state_dir / "credentials.json").unlink(missing_ok=True)


# ---------------------------------------------------------------- seeding
def _op(event: dict[str, Any]) -> Any:
    from taskcenter.services.admin import operation_specs as admin_ops

    reply = admin_ops.run(event)
    if not reply["ok"]:
        raise RuntimeError(f"seeding {event['op']} failed: {reply}")
    return reply["result"]


def seed(ctx: StackContext) -> dict[str, Any]:
    """An admin and a user "demo" with quota, an access token and an API key each, and the components' channels,
    all created through the admin operations (the same code path as the admin Lambda)."""
    from taskcenter.observability import logger

    logger.setLevel("WARNING")  # one INFO line per seeding op would bury the banner
    accounts = {}
    for username, role, quota in ACCOUNTS:
        user = _op({"op": "create_user", "username": username, "role": role, "quota": quota})
        access = _op({"op": "issue_access_token", "user_id": user["id"], "name": "local"})
        key = _op({"op": "issue_key", "user_id": user["id"], "name": "local"})
        accounts[username] = {"user_id": user["id"], "username": username, "role": role, "quota": quota,
                              "access_token": access["token"], "api_key": key["token"],
                              "key_hash": key["token_hash"]}
    return {**accounts, "channels": [_op(channel_event(seed_spec)) for seed_spec in ctx.channels]}


def channel_event(seed_spec: ChannelSeed) -> dict[str, Any]:
    return {"op": "create_channel", "type": seed_spec.type, "base_url": seed_spec.base_url,
            "name": seed_spec.name or f"{seed_spec.type}-sim", "secret": seed_spec.secret,
            "priority": seed_spec.priority, "weight": seed_spec.weight, "models": list(seed_spec.models),
            "devices": list(seed_spec.devices), "accounts": list(seed_spec.accounts)}


# ---------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("LOCAL_MOTO_PORT", DEFAULT_MOTO_PORT)),
                        help="moto server port (env LOCAL_MOTO_PORT, default 5010; 0 = any free port)")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", DEFAULT_API_PORT)),
                        help="API port (env LOCAL_API_PORT, default 8000; 0 = any free port)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local",
                        help="credentials.json and logs/ (default .local)")
    parser.add_argument("--check", "--smoke", action="store_true",
                        help="start, call the printed curl (and the components' checks), stop; exit 0 if all passed")
    parser.add_argument("--no-components", action="store_true", help="skip infra/local/components (moto + API only)")
    parser.add_argument("--verbose", action="store_true", help="child process output to this terminal, not logs/")
    parser.add_argument("--fresh", action="store_true", help="start from nothing: discard the saved state")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous: dict[int, Callable[..., Any] | int | None] = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(moto_port=args.moto_port, api_port=args.api_port, state_dir=args.state_dir.resolve(),
                       verbose=args.verbose, components=not args.no_components, persist=not args.check,
                       fresh=args.fresh)
    try:
        try:
            ctx = stack.start()
        except Exception:
            say(f"start failed:\n{traceback.format_exc()}")
            say(f"logs: {stack.state_dir / 'logs'}/")
            return 1
        if args.check:
            failures = check(ctx)
            for line in failures:
                say(f"CHECK FAILED: {line}")
            if stack.failed:
                say(f"warning: components failed to start: {stack.failed}")
            say("check passed" if not failures else "check failed")
            return 0 if not failures else 1
        print(banner(stack, ctx), flush=True)
        supervisor = Supervisor(stack.started, say=say, log_dir=stack.state_dir / "logs",
                                restarters={"moto": moto_restarter(stack, say)})
        code = supervisor.run(stop)  # restarts what crashes, until Ctrl-C / SIGTERM
        say("stopping")
        return code
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Admin operations from a terminal: the same op table as the admin Lambda (docs/admin.md).

    python -m infra.admin_cli ops                                   # list the operations
    python -m infra.admin_cli top_up --user-id 2 --amount 500000    # flags: --some-field value (JSON values)
    python -m infra.admin_cli create_user --json '{"username": "alice", "quota": 500000}'
    python -m infra.admin_cli audit --aws --stack task-center       # a deployed stack (boto3 credentials)

Targets: the local stack (default; read from .local/credentials.json, which `make local` writes),
`--aws --stack NAME` (table names from the CloudFormation stack's resources; channel secrets under
`taskcenter/NAME/channel/`), or `--aws` alone (the table variables USERS_TABLE, ... and
CHANNEL_SECRET_PREFIX already exported). Prints the reply as JSON; exit status 0 when ok, 1 when
the operation was refused, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_LAYER = str(ROOT / "layers")
if _LAYER not in sys.path:  # the shared layer, as app.py does
    sys.path.insert(0, _LAYER)


class UsageError(Exception):
    pass


# Operations that write channel secrets under the stack's prefix (docs/admin.md "Channel secrets").
CHANNEL_SECRET_OPS = frozenset({"create_channel", "update_channel", "disable_channel", "delete_channel",
                                "migrate_channel_secrets"})


def parse_fields(tokens: list[str]) -> dict[str, Any]:
    """`--user-id 2 --models '["a"]' --note hello` -> {"user_id": 2, "models": ["a"], "note": "hello"}.

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as strings.
    """
    fields: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise UsageError(f"expected --field value, got {token!r}")
        name, _, inline = token[2:].partition("=")
        if inline:
            raw = inline
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            raw = tokens[i + 1]
            i += 1
        else:
            raise UsageError(f"--{name} needs a value")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        fields[name.replace("-", "_")] = value
        i += 1
    return fields


def local_environment(state_dir: Path) -> dict[str, str]:
    path = state_dir / "credentials.json"
    if not path.exists():
        raise UsageError(f"no local stack found ({path} is missing): start it with `make local`, or pass --aws")
    return dict(json.loads(path.read_text())["env"])


def aws_environment(stack: str | None, region: str | None, template_path: Path) -> dict[str, str]:
    """Table and queue variables of a deployed stack: each function variable bound in template.yaml
    (USERS_TABLE: !Ref UsersTable) resolved to the physical id of that resource in the stack."""
    env = {"AWS_REGION": region} if region else {}
    if not stack:
        return env  # the caller exported USERS_TABLE etc. (and CHANNEL_SECRET_PREFIX) already
    import boto3
    from taskcenter.store.channel_secrets import stack_prefix

    from infra.local import cfn

    env["CHANNEL_SECRET_PREFIX"] = stack_prefix(stack)  # what template.yaml gives the functions (Fn::Sub)

    if not template_path.exists():
        raise UsageError(f"{template_path} is missing (run `make template`)")
    client = boto3.client("cloudformation", region_name=region)
    physical: dict[str, str] = {}
    for page in client.get_paginator("list_stack_resources").paginate(StackName=stack):
        for res in page["StackResourceSummaries"]:
            physical[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "")
    _, bindings = cfn.function_environment(cfn.load_template(template_path))
    for binding in bindings:
        # A table's physical id is its name; a queue's is its URL (what !Ref gives for each).
        if binding.attribute in {"Ref", "QueueUrl"} and physical.get(binding.logical_id):
            env[binding.variable] = physical[binding.logical_id]
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin_cli", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("op", help="operation name (`ops` lists them)")
    parser.add_argument("--json", dest="json_fields", help="the operation's fields as a JSON object")
    parser.add_argument("--aws", action="store_true", help="operate on AWS instead of the local stack")
    parser.add_argument("--stack", help="with --aws: CloudFormation stack name to read table names from")
    parser.add_argument("--region", help="with --aws: AWS region")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local", help="local stack state (default .local)")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    args, rest = parser.parse_known_args(argv)

    from taskcenter.services.admin import operation_specs as admin_ops

    if args.op in {"ops", "list", "help"}:
        for name, op in sorted(admin_ops.OPS.items()):
            fields = [*op.required, *(f"[{f}]" for f in op.optional)]
            print(f"{name:<20} {op.summary}\n{'':<20} fields: {', '.join(fields) or '-'}")
        return 0
    try:
        fields = json.loads(args.json_fields) if args.json_fields else {}
        if not isinstance(fields, dict):
            raise UsageError("--json must be a JSON object")
        fields.update(parse_fields(rest))
        env = (aws_environment(args.stack, args.region, args.template) if args.aws
               else local_environment(args.state_dir))
        if args.aws and args.op in CHANNEL_SECRET_OPS and not (env.get("CHANNEL_SECRET_PREFIX")
                                                               or os.environ.get("CHANNEL_SECRET_PREFIX")):
            raise UsageError(f"{args.op} writes channel secrets: pass --stack, or export CHANNEL_SECRET_PREFIX "
                             "(taskcenter/<stack>/channel/)")
    except (UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.update(env)
    from taskcenter import settings
    from taskcenter.observability import logger

    settings.reload()  # the target stack's variables, just set

    logger.setLevel("WARNING")  # the reply is the output
    reply = admin_ops.run({**fields, "op": args.op})
    print(json.dumps(reply, indent=2, ensure_ascii=False))
    return 0 if reply["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

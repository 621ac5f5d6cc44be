"""Read template.yaml and create its tables, queues and KMS keys on the local AWS emulation (docs/local-stack.md).

Only what the local stack needs is interpreted: `AWS::DynamoDB::Table` and `AWS::SQS::Queue` resources
(keys, indexes, TTL, visibility timeout, redrive to the dead-letter queue, ...), `AWS::S3::Bucket`
(`create_buckets`: every bucket, with its encryption, public access block and lifecycle), `AWS::KMS::Key` and
`AWS::KMS::Alias` (`create_keys`: the v1 script-secrets key) and the functions'
environment variables that point at them (`USERS_TABLE: !Ref UsersTable`), so the API and the workers get
the same variables on the local stack as on AWS. Physical names are `local-<LogicalId>`.

The CloudFormation short tags (!Ref, !GetAtt, !Sub, ...) are read as their long forms ({"Ref": ...},
{"Fn::GetAtt": [...]}), as CloudFormation itself does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PREFIX = "local-"
TABLE_TYPE = "AWS::DynamoDB::Table"
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"
KEY_TYPE = "AWS::KMS::Key"
ALIAS_TYPE = "AWS::KMS::Alias"
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}

# CloudFormation table properties that CreateTable accepts unchanged.
_CREATE_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                      "BillingMode", "ProvisionedThroughput", "StreamSpecification", "TableClass")
# CloudFormation queue properties that are SQS attributes of the same name (values become strings).
_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
                     "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication",
                     "KmsMasterKeyId", "SqsManagedSseEnabled")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short intrinsic-function tags."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":  # !GetAtt Resource.Attribute
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path | str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return parse_template(handle.read())


def parse_template(text: str) -> dict[str, Any]:
    doc = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise ValueError("not a CloudFormation template: no Resources mapping")
    return doc


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res.get("Properties") or {} for lid, res in template["Resources"].items()
            if isinstance(res, dict) and res.get("Type") == resource_type}


def physical_name(logical_id: str, *, fifo: bool = False) -> str:
    return f"{PREFIX}{logical_id}" + (".fifo" if fifo else "")


# ---------------------------------------------------------------- environment bindings
@dataclass(frozen=True)
class Binding:
    """An environment variable of the functions that names a resource: USERS_TABLE -> Ref UsersTable."""

    variable: str
    logical_id: str
    attribute: str  # Ref | Arn | QueueUrl | QueueName | ...


def _binding(variable: str, value: Any) -> Binding | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return Binding(variable, value["Ref"], "Ref")
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and len(target) == 2:
            return Binding(variable, str(target[0]), str(target[1]))
    return None


def function_environment(template: dict[str, Any]) -> tuple[dict[str, str], list[Binding]]:
    """(literal variables, resource bindings) from Globals and every function's Environment.Variables."""
    sources = [((template.get("Globals") or {}).get("Function") or {}).get("Environment")]
    for res in template["Resources"].values():
        if isinstance(res, dict) and res.get("Type") in FUNCTION_TYPES:
            sources.append((res.get("Properties") or {}).get("Environment"))
    literals: dict[str, str] = {}
    bindings: dict[str, Binding] = {}
    parameters = template.get("Parameters") or {}
    for env in sources:
        for variable, value in ((env or {}).get("Variables") or {}).items():
            bound = _binding(variable, value)
            if bound and bound.logical_id in template["Resources"]:
                bindings[variable] = bound
            elif bound and bound.attribute == "Ref" and bound.logical_id in parameters:
                default = parameters[bound.logical_id].get("Default")
                if default is not None:
                    literals.setdefault(variable, str(default))
            elif isinstance(value, str | int | float | bool) and not isinstance(value, dict):
                literals.setdefault(variable, str(value).lower() if isinstance(value, bool) else str(value))
    return literals, list(bindings.values())


# ---------------------------------------------------------------- creation
@dataclass
class QueueInfo:
    logical_id: str
    name: str
    url: str
    arn: str
    dead_letter: str | None = None  # logical id of its dead-letter queue
    max_receive_count: int | None = None


@dataclass
class Resources:
    """What `create_resources` made: logical id -> physical table name / queue."""

    tables: dict[str, str]
    queues: dict[str, QueueInfo]
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {"Ref": key id, "Arn": arn}
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name

    def resolve(self, binding: Binding) -> str | None:
        if binding.logical_id in self.keys:
            return self.keys[binding.logical_id].get(binding.attribute)
        if binding.logical_id in self.buckets:
            name = self.buckets[binding.logical_id]
            return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}.get(
                binding.attribute)
        if binding.logical_id in self.tables:
            return self.tables[binding.logical_id] if binding.attribute == "Ref" else None
        queue = self.queues.get(binding.logical_id)
        if queue is None:
            return None
        return {"Ref": queue.url, "QueueUrl": queue.url, "Arn": queue.arn, "QueueName": queue.name}.get(
            binding.attribute)


def table_request(logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
    """The CreateTable request for a CloudFormation table definition."""
    request = {key: props[key] for key in _CREATE_TABLE_KEYS if key in props}
    request["TableName"] = physical_name(logical_id)
    request.setdefault("BillingMode", "PAY_PER_REQUEST")
    if request.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    return request


def queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in props:
            value = props[key]
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _dead_letter_target(props: dict[str, Any]) -> tuple[str, int] | None:
    policy = props.get("RedrivePolicy")
    if isinstance(policy, str):
        policy = json.loads(policy)
    if not isinstance(policy, dict):
        return None
    target = _binding("", policy.get("deadLetterTargetArn"))
    if target is None:
        raise ValueError(f"RedrivePolicy target must be !GetAtt <Queue>.Arn, got {policy.get('deadLetterTargetArn')}")
    return target.logical_id, int(policy.get("maxReceiveCount", 5))


def create_resources(template: dict[str, Any], dynamodb: Any, sqs: Any) -> Resources:
    """Create every table and queue of the template (boto3 clients pointed at the emulation)."""
    tables = {}
    for logical_id, props in resources_of(template, TABLE_TYPE).items():
        request = table_request(logical_id, props)
        dynamodb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=request["TableName"], TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
        tables[logical_id] = request["TableName"]

    queues: dict[str, QueueInfo] = {}
    queue_props = resources_of(template, QUEUE_TYPE)
    for logical_id, props in queue_props.items():
        name = physical_name(logical_id, fifo=bool(props.get("FifoQueue")))
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes(props))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[logical_id] = QueueInfo(logical_id, name, url, arn)
    # Redrive policies last: a dead-letter queue must exist before a queue can point at it.
    for logical_id, props in queue_props.items():
        target = _dead_letter_target(props)
        if target is None:
            continue
        dlq_id, max_receives = target
        if dlq_id not in queues:
            raise ValueError(f"{logical_id}: dead-letter queue {dlq_id} is not a queue of the template")
        policy = {"deadLetterTargetArn": queues[dlq_id].arn, "maxReceiveCount": str(max_receives)}
        sqs.set_queue_attributes(QueueUrl=queues[logical_id].url, Attributes={"RedrivePolicy": json.dumps(policy)})
        queues[logical_id].dead_letter = dlq_id
        queues[logical_id].max_receive_count = max_receives
    return Resources(tables, queues)


def create_keys(template: dict[str, Any], kms: Any, resources: Resources) -> Resources:
    """Create every KMS key of the template (and its aliases) and add them to `resources`."""
    for logical_id, props in resources_of(template, KEY_TYPE).items():
        meta = kms.create_key(Description=str(props.get("Description") or logical_id)[:8192],
                              KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                              KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"))["KeyMetadata"]
        resources.keys[logical_id] = {"Ref": meta["KeyId"], "Arn": meta["Arn"], "KeyId": meta["KeyId"]}
    for logical_id, props in resources_of(template, ALIAS_TYPE).items():
        target = _binding("", props.get("TargetKeyId"))
        if target is None or target.logical_id not in resources.keys:
            raise ValueError(f"{logical_id}: TargetKeyId must be !Ref <a key of the template>")
        kms.create_alias(AliasName=f"alias/{physical_name(logical_id)}",
                         TargetKeyId=resources.keys[target.logical_id]["KeyId"])
    return resources


def bucket_name(logical_id: str) -> str:
    """S3 bucket names are lower case (`local-resultsbucket`)."""
    return physical_name(logical_id).lower()


def _parameter_value(template: dict[str, Any], value: Any) -> Any:
    """A property's value with `!Ref <Parameter>` replaced by the parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = (template.get("Parameters") or {}).get(value["Ref"]) or {}
        return parameter.get("Default")
    if isinstance(value, dict):
        return {key: _parameter_value(template, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_parameter_value(template, item) for item in value]
    return value


def create_buckets(template: dict[str, Any], s3: Any, resources: Resources) -> Resources:
    """Create every S3 bucket of the template, with the settings the emulation keeps (encryption, public access
    block, lifecycle with its parameters' defaults), and add them to `resources`."""
    for logical_id, props in resources_of(template, BUCKET_TYPE).items():
        name = bucket_name(logical_id)
        s3.create_bucket(Bucket=name)
        props = _parameter_value(template, props)
        if props.get("BucketEncryption"):
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [{("ApplyServerSideEncryptionByDefault" if key == "ServerSideEncryptionByDefault" else key): value
                      for key, value in rule.items()}
                     for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=name,
                                       PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        cors = (props.get("CorsConfiguration") or {}).get("CorsRules") or []
        if cors:  # CloudFormation's CorsRules / MaxAge are the API's CORSRules / MaxAgeSeconds
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                {("MaxAgeSeconds" if key == "MaxAge" else key): value for key, value in rule.items()}
                for rule in cors]})
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={
                "Rules": [_lifecycle_rule(rule) for rule in rules]})
        resources.buckets[logical_id] = name
    return resources


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as PutBucketLifecycleConfiguration takes it."""
    out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule.get("Status", "Enabled"),
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if rule.get("ExpirationInDays") is not None:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if rule.get("AbortIncompleteMultipartUpload"):
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return out


def binding_environment(template: dict[str, Any], resources: Resources) -> dict[str, str]:
    """The functions' environment variables, resolved against the local resources."""
    literals, bindings = function_environment(template)
    env = dict(literals)
    for binding in bindings:
        value = resources.resolve(binding)
        if value is not None:
            env[binding.variable] = value
    return env

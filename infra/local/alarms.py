"""The local stack's view of the template's dead-letter-queue alarms (docs/local-stack.md): each
`AWS::CloudWatch::Alarm` on an SQS queue's ApproximateNumberOfMessagesVisible is evaluated against the
queue's current depth (moto computes no CloudWatch metrics), so tests and developers can see an alarm
raised: GET /alarms on the event runner's control API."""

from __future__ import annotations

from typing import Any

_COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def evaluate(template: dict[str, Any], queues: dict[str, Any], sqs: Any) -> list[dict[str, Any]]:
    """[{alarm, queue, depth, threshold, state: ALARM | OK}] for every queue-depth alarm."""
    out = []
    for alarm_id, resource in sorted((template.get("Resources") or {}).items()):
        props = (resource or {}).get("Properties") or {}
        if resource.get("Type") != "AWS::CloudWatch::Alarm" or props.get("Namespace") != "AWS/SQS":
            continue
        if props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        dimension = next((d for d in props.get("Dimensions") or [] if d.get("Name") == "QueueName"), None)
        value = (dimension or {}).get("Value")
        queue_id = value["Fn::GetAtt"][0] if isinstance(value, dict) and "Fn::GetAtt" in value else None
        queue = queues.get(queue_id) if queue_id else None
        if not queue:
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=queue["url"],
                                              AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        depth = int(attributes.get("ApproximateNumberOfMessages", 0))
        threshold = float(props.get("Threshold", 0))
        compare = _COMPARE.get(props.get("ComparisonOperator", ""), _COMPARE["GreaterThanThreshold"])
        out.append({"alarm": alarm_id, "queue": queue_id, "depth": depth, "threshold": threshold,
                    "state": "ALARM" if compare(depth, threshold) else "OK"})
    return out

"""Every function that writes the ledger writes the usage log's hour buckets in the same transaction
(docs/usage-log.md, "total"): its policy must let it write the counters table, and /api/log/self reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.local import cfn

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


def _tables(props: dict[str, Any]) -> dict[str, str]:
    return {next(iter(p.values()))["TableName"]["Ref"]: next(iter(p)) for p in props.get("Policies") or []
            if isinstance(next(iter(p.values())), dict) and "TableName" in next(iter(p.values()))}


def test_ledger_writers_may_write_the_counters_and_the_log_reads_them() -> None:
    functions = cfn.resources_of(cfn.load_template(TEMPLATE_PATH), "AWS::Serverless::Function")
    writers = {name: _tables(props) for name, props in functions.items()
               if _tables(props).get("LedgerTable") == "DynamoDBCrudPolicy"}
    assert "JobsRefundWorkerFunction" in writers and "AdminOperationFunction" in writers
    lacking = sorted(name for name, tables in writers.items() if tables.get("CountersTable") != "DynamoDBCrudPolicy")
    assert not lacking, f"write the ledger but not the counters table: {lacking}"
    assert _tables(functions["UsageLogListOwnLogsFunction"]).get("CountersTable") == "DynamoDBReadPolicy"


def test_the_stats_read_the_counters() -> None:
    """The stats sum the buckets' amounts (docs/usage-log.md, "Stat"): both may read the counters table."""
    functions = cfn.resources_of(cfn.load_template(TEMPLATE_PATH), "AWS::Serverless::Function")
    for name in ("UsageLogOwnLogStatFunction", "UsageLogAllLogStatFunction"):
        assert _tables(functions[name]).get("CountersTable") == "DynamoDBReadPolicy", name

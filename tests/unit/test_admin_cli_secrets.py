"""The admin CLI never writes a deployed stack's channel secrets under a guessed prefix (infra/admin_cli.py)."""

from __future__ import annotations

import pytest

from infra import admin_cli


@pytest.mark.parametrize("op", sorted(admin_cli.CHANNEL_SECRET_OPS))
def test_channel_ops_on_aws_need_the_stack_or_its_prefix(op, monkeypatch, capsys):
    monkeypatch.delenv("CHANNEL_SECRET_PREFIX", raising=False)
    assert admin_cli.main([op, "--aws", "--channel-id", "1"]) == 2
    assert "CHANNEL_SECRET_PREFIX" in capsys.readouterr().err

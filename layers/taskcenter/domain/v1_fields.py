"""Task API v1 field readers for script_config and the create body: documented types, as the desktop UI also
sends them (numbers as numeric strings, "0"/"1" flags). Pure: no I/O (tikmatrix-scripts.md §3, §8;
docs/task-api-v1.md, "Script configs").
"""

from __future__ import annotations

import re
from typing import Any

from taskcenter.domain import json_body
from taskcenter.domain.errors import BadInput

CODE_BAD_PARAMETER = 40001
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")  # ASCII digits only: "٣" is not a number here
_SPLIT = re.compile(r"[\r\n,]+")


def bad(message: str, field_name: str, code: int = CODE_BAD_PARAMETER) -> BadInput:
    """A 400 naming the field; `code` is the v1 envelope code (40001 unless said otherwise)."""
    error = BadInput(message, field=field_name)
    error.v1_code = code  # type: ignore[attr-defined]
    return error


def _where(name: str, prefix: str) -> str:
    return f"{prefix}{name}"


def text(cfg: dict[str, Any], name: str, *, default: str = "", max_len: int = 10_000,
         prefix: str = "script_config.") -> str:
    """A string field (absent or null: the default)."""
    value = cfg.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad(f"{_where(name, prefix)} must be a string", _where(name, prefix))
    if len(value) > max_len:
        raise bad(f"{_where(name, prefix)} must be at most {max_len} characters", _where(name, prefix))
    return value


def number(cfg: dict[str, Any], name: str, *, low: float, high: float, default: float | None,
           integer: bool = True, prefix: str = "script_config.") -> Any:
    """An int (or, `integer=False`, any number) given as a JSON number or a numeric string ("30", "-1")."""
    value = cfg.get(name)
    where = _where(name, prefix)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise bad(f"{where} must be a number", where)
    if isinstance(value, str):
        # bounded as a body's numbers are (domain/json_body.py: 38 digits); int() refuses 4,300 with ValueError
        if len(value.strip()) > json_body.MAX_INT_DIGITS + 2 or not _NUMBER.match(value.strip()):
            raise bad(f"{where} must be a number", where)
        value = float(value) if "." in value else int(value)
    if not isinstance(value, (int, float)) or value != value:  # NaN
        raise bad(f"{where} must be a number", where)
    if integer and isinstance(value, float):
        if not value.is_integer():
            raise bad(f"{where} must be a whole number", where)
        value = int(value)
    if not low <= value <= high:
        raise bad(f"{where} must be between {low:g} and {high:g}", where)
    return value


def flag(cfg: dict[str, Any], name: str, default: bool, prefix: str = "script_config.") -> bool:
    """A bool; also 0/1 and "0"/"1"/"true"/"false" (the UI's radio buttons send strings)."""
    value = cfg.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise bad(f"{_where(name, prefix)} must be true or false", _where(name, prefix))


def choice(cfg: dict[str, Any], name: str, allowed: tuple[str, ...], default: str,
           prefix: str = "script_config.") -> str:
    value = cfg.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise bad(f"{_where(name, prefix)} must be one of {', '.join(allowed)}", _where(name, prefix))
    return str(value)


def str_list(cfg: dict[str, Any], name: str, *, max_items: int = 100, max_len: int = 500,
             prefix: str = "script_config.") -> list[str] | None:
    """An array of non-empty strings (None when absent)."""
    value = cfg.get(name)
    where = _where(name, prefix)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise bad(f"{where} must be an array of non-empty strings", where)
    if len(value) > max_items:
        raise bad(f"{where} accepts at most {max_items} items", where)
    if any(len(v) > max_len for v in value):
        raise bad(f"{where} items must be at most {max_len} characters", where)
    return [v.strip() for v in value]


def split_list(cfg: dict[str, Any], name: str, *, max_items: int = 100, max_len: int = 500,
               prefix: str = "script_config.") -> list[str] | None:
    """A string holding one value, or several separated by newlines or commas (None when absent/empty)."""
    raw = text(cfg, name, max_len=max_items * (max_len + 2), prefix=prefix)
    items = [part.strip() for part in _SPLIT.split(raw) if part.strip()]
    if not items:
        return None
    where = _where(name, prefix)
    if len(items) > max_items:
        raise bad(f"{where} holds more than {max_items} entries", where)
    if any(len(v) > max_len for v in items):
        raise bad(f"{where} entries must be at most {max_len} characters", where)
    return items


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]

"""The simulated midjourney-proxy's fixed parts: a tiny PNG and the buttons midjourney-proxy shows."""

from __future__ import annotations

import struct
import zlib
from typing import Any


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A valid PNG of one colour (so a downloaded image can be checked byte for byte)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PNG = tiny_png()


def _hash(task_id: str) -> str:
    return f"{zlib.crc32(task_id.encode()):08x}-sim"


def grid_buttons(task_id: str) -> list[dict[str, Any]]:
    h = _hash(task_id)
    buttons = [_button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
    buttons.append(_button(f"MJ::JOB::reroll::0::{h}::SOLO", "", emoji="🔄"))
    buttons += [_button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)]
    return buttons


def upscale_buttons(task_id: str) -> list[dict[str, Any]]:
    h = _hash(task_id)
    return [
        _button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", emoji="🪄"),
        _button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", emoji="🪄"),
        _button(f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", emoji="🖌️"),
        _button(f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", emoji="🔍"),
        _button(f"MJ::CustomZoom::{h}", "Custom Zoom", emoji="🔍"),
        _button(f"MJ::JOB::pan_left::1::{h}::SOLO", "", emoji="⬅️"),
        _button(f"MJ::JOB::pan_right::1::{h}::SOLO", "", emoji="➡️"),
    ]


def _button(custom_id: str, label: str, emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}


def action_of_custom_id(custom_id: str) -> str:
    """What midjourney-proxy does for a button's customId (the same table the relay uses)."""
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        return ""
    name = parts[2] if parts[1] == "JOB" else parts[1]
    if "upsample" in name:
        return "UPSCALE"
    if name == "variation":
        return "VARIATION"
    if name == "high_variation":
        return "HIGH_VARIATION"
    if name == "low_variation":
        return "LOW_VARIATION"
    if "reroll" in name:
        return "REROLL"
    if "pan" in name:
        return "PAN"
    return {"Outpaint": "ZOOM", "CustomZoom": "CUSTOM_ZOOM", "Inpaint": "INPAINT"}.get(name, "")

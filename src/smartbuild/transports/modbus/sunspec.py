"""SunSpec detection with the model definitions shipped by pysunspec2 (not hand-written models)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

MARKER = (0x5375, 0x6E53)  # "SunS"
BASES = (40000, 0, 50000)
END = 0xFFFF


@functools.lru_cache(maxsize=64)
def model_points(model_id: int) -> dict[str, tuple[int, int, str]]:
    """Return {point: (offset from the model's ID register, size, type)} of a SunSpec model."""
    import os

    import sunspec2
    from sunspec2 import mdef

    path = os.path.join(
        os.path.dirname(sunspec2.__file__), "models", "json", f"model_{model_id}.json"
    )
    model = mdef.from_json_file(path)
    offsets: dict[str, tuple[int, int, str]] = {}
    offset = 0
    for point in model["group"]["points"]:
        size = int(point.get("size", 1))
        offsets[point["name"]] = (offset, size, point["type"])
        offset += size
    return offsets


def _string(registers: list[int]) -> str:
    raw = b"".join(r.to_bytes(2, "big") for r in registers)
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


async def detect(
    read: Callable[[int, int], Awaitable[list[int] | None]], max_models: int = 64
) -> dict[str, Any] | None:
    """Find the SunS marker at the usual bases and walk the model chain.

    ``read(address, count)`` returns registers or None when the device refuses. Returns
    ``{"base", "models", "manufacturer", "model", "version", "serial"}`` or None.
    """
    for base in BASES:
        marker = await read(base, 2)
        if marker is None or tuple(marker) != MARKER:
            continue
        models: list[int] = []
        info: dict[str, Any] = {"base": base}
        address = base + 2
        for _ in range(max_models):  # bounded: a broken chain must not loop forever
            header = await read(address, 2)
            if header is None or header[0] == END:
                break
            model_id, length = header
            models.append(model_id)
            if model_id == 1:
                body = await read(address, min(length + 2, 125))
                if body:
                    points = model_points(1)
                    for field, key in (
                        ("Mn", "manufacturer"),
                        ("Md", "model"),
                        ("Vr", "version"),
                        ("SN", "serial"),
                    ):
                        off, size, _ = points[field]
                        info[key] = _string(body[off : off + size])
            address += 2 + length
        info["models"] = models
        return info
    return None

"""Generate the SunSpec device templates from pysunspec2's model definitions.

Run ``python scripts/sunspec_templates.py`` after upgrading pysunspec2; a test checks that the
shipped files equal what this script writes, so the register maps are never edited by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BASE = 40000  # the SunS marker; the first model header follows at BASE + 2
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "src" / "smartbuild" / "templates"

# SunSpec point types -> pymodbus DATATYPE names used by templates (lower case).
TYPES = {
    "int16": "int16", "uint16": "uint16", "count": "uint16", "acc16": "uint16",
    "enum16": "uint16", "bitfield16": "uint16", "sunssf": "int16",
    "int32": "int32", "uint32": "uint32", "acc32": "uint32", "enum32": "uint32",
    "bitfield32": "uint32", "float32": "float32", "ipaddr": "uint32",
    "int64": "int64", "uint64": "uint64", "acc64": "uint64", "float64": "float64",
    "string": "string",
}  # fmt: skip
UNITS = {"C": "°C", "Pct": "%", "Secs": "s"}
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_. ()/-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}

# What smartbuild adds to the SunSpec definitions: roles, kW/kWh scaling and the few points it
# may write (with bounds). Everything else is read-only, whatever the model's access says.
OVERRIDES: dict[tuple[int, str], dict[str, Any]] = {
    (103, "W"): {"role": "pv_active_power", "scale": 0.001, "unit": "kW"},
    (103, "WH"): {"scale": 0.001, "unit": "kWh"},
    (123, "WMaxLimPct"): {"role": "pv_power_limit", "unit": "%", "writable": True, "min": 0, "max": 100},
    (123, "WMaxLim_Ena"): {"writable": True, "min": 0, "max": 1},
    (123, "WMaxLimPct_WinTms"): {"writable": True, "min": 0, "max": 3600},
    (123, "WMaxLimPct_RvrtTms"): {"writable": True, "min": 0, "max": 3600},
    (123, "WMaxLimPct_RmpTms"): {"writable": True, "min": 0, "max": 3600},
    (203, "W"): {"role": "site_active_power", "scale": 0.001, "unit": "kW"},
    (203, "TotWhImp"): {"role": "energy_import_total", "scale": 0.001, "unit": "kWh"},
    (203, "TotWhExp"): {"role": "energy_export_total", "scale": 0.001, "unit": "kWh"},
}  # fmt: skip

TEMPLATES: dict[str, dict[str, Any]] = {
    "sunspec-inverter": {
        "title": "SunSpec three-phase PV inverter (models 1, 103, 123)",
        "chain": [1, 103, 123],
        "identify": [1, 103],
        "notes": [
            "Three-phase inverter (model 103) with immediate controls (model 123): WMaxLimPct is",
            "the PV power limit in % of WMax.",
        ],
    },
    "sunspec-meter": {
        "title": "SunSpec three-phase wye meter (models 1, 203)",
        "chain": [1, 203],
        "identify": [1, 203],
        "notes": ["Three-phase wye-connected meter (model 203); W is import positive."],
    },
}


def load_model(model_id: int) -> dict[str, Any]:
    """Return pysunspec2's JSON definition of one model."""
    import sunspec2

    path = Path(sunspec2.__file__).parent / "models" / "json" / f"model_{model_id}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def model_length(model: dict[str, Any]) -> int:
    """Return the model's length register value (registers after ID and L)."""
    return sum(int(p.get("size", 1)) for p in model["group"]["points"]) - 2


def points_of(model_id: int, start: int) -> Iterable[tuple[str, dict[str, Any]]]:
    """Yield (name, point spec) for the points of a model whose ID register is at start."""
    model = load_model(model_id)
    offset = 0
    names = {p["name"] for p in model["group"]["points"]}
    for point in model["group"]["points"]:
        size = int(point.get("size", 1))
        address, offset = start + offset, offset + size
        name, kind = point["name"], point["type"]
        if name in ("ID", "L") or kind == "pad" or kind not in TYPES:
            continue
        spec: dict[str, Any] = {"table": "holding", "address": address, "type": TYPES[kind]}
        if kind == "string":
            spec["length"] = size
        sf = point.get("sf")
        if isinstance(sf, str) and sf in names:
            spec["sf"] = sf
        elif isinstance(sf, int) and sf:
            spec["scale"] = 10.0**sf
        unit = point.get("units")
        if unit:
            spec["unit"] = UNITS.get(unit, unit)
        symbols = point.get("symbols") or []
        if kind.startswith("enum") and symbols:
            spec["enum"] = {int(s["value"]): s["name"] for s in symbols}
        override = OVERRIDES.get((model_id, name), {})
        if "scale" in override and "scale" in spec:
            override = {**override, "scale": override["scale"] * spec.pop("scale")}
        spec.update(override)
        label = point.get("label") or name
        spec["description"] = f"{label} (model {model_id})"
        yield name, spec


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar
    return str(value)


def _flow(spec: dict[str, Any]) -> str:
    parts = []
    for key, value in spec.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items())
            parts.append(f"{key}: {{{inner}}}")
        else:
            parts.append(f"{key}: {_scalar(value)}")
    return "{" + ", ".join(parts) + "}"


def render(name: str) -> str:
    """Return the YAML text of one generated template."""
    info = TEMPLATES[name]
    lines = [
        "# GENERATED by scripts/sunspec_templates.py from pysunspec2's model JSON: do not edit.",
        *(f"# {note}" for note in info["notes"]),
        f"# Assumption: the SunS marker at PDU address {BASE} (Modicon 40001) and the models in",
        "# exactly this order, each header (ID, L) right after the previous model:",
    ]
    address = BASE + 2
    layout = []
    for model_id in info["chain"]:
        model = load_model(model_id)
        length = model_length(model)
        layout.append((model_id, address, length, model["group"]["name"]))
        address += 2 + length
    for model_id, start, length, label in layout:
        lines.append(f"#   model {model_id} ({label}) at {start}, L = {length}")
    lines.append(f"#   end marker 0xFFFF at {address}")
    lines.append("# A device with another base or chain needs its own copy with shifted addresses.")
    lines += [
        f"template: {name}",
        f"title: {info['title']}",
        "vendor: SunSpec",
        "transport: modbus",
        "source: SunSpec Information Model Specification; model definitions from pysunspec2 "
        "(sunspec2/models/json)",
        "identify:",
        f"  modbus: {{sunspec: [{', '.join(map(str, info['identify']))}]}}",
        "defaults: {address_base: 0, word_order: ABCD, max_gap: 10, poll_interval: 10}",
        "points:",
    ]
    for model_id, start, _length, _label in layout:
        for point, spec in points_of(model_id, start):
            lines.append(f"  {point}: {_flow(spec)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the generated templates."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a file differs")
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR)
    args = parser.parse_args(argv)
    stale = []
    for name in TEMPLATES:
        path = args.out / f"{name}.yaml"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        print(f"out of date: {path} (run scripts/sunspec_templates.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

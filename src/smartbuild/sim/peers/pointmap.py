"""Serve a Modbus device template as register tables: the map a client reads is the map served.

A ``PointMap`` turns engineering values of a template's points into the four Modbus tables
of one unit (honouring table, address, address_base, type, scale, offset, word order, bits in
registers and SunSpec scale-factor points), decodes what clients wrote back into engineering
values, and derives what the unit says about itself (FC43 objects, FC17 server id and the
SunSpec model chain) from the template's own ``identify`` rules. Values are encoded with
:mod:`smartbuild.transports.modbus.codec`, the codec the client decodes with.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from smartbuild.transports.modbus import codec as modbus_codec

if TYPE_CHECKING:
    from smartbuild.transports.modbus.schema import ModbusPoint as PointSpec
    from smartbuild.transports.modbus.schema import ModbusTemplate as Template

Tables = dict[str, dict[int, Any]]  # table -> {PDU address: register (int) or bit (bool)}
SF_RANGE = range(-4, 10)  # scale-factor exponents the simulator picks from
_INT_LIMITS = modbus_codec.INT_RANGES


@dataclass(frozen=True)
class ServedPoint:
    """Where one point lives on the wire and how it is encoded."""

    name: str
    spec: PointSpec
    table: str
    address: int  # PDU address
    count: int  # registers (1 for bits)
    type: str  # modbus_codec name, e.g. FLOAT32
    order: str

    @property
    def is_bit(self) -> bool:
        """Return True for coils, discrete inputs and flags inside a register."""
        return self.table in ("coil", "discrete") or self.spec.bit is not None


def literal_for(pattern: str, hints: list[str | None]) -> str | None:
    """Return a text that the identify regex matches: a hint if one does, else the regex unescaped."""
    regex = re.compile(pattern)
    for hint in hints:
        if hint and regex.search(hint):
            return hint
    plain = re.sub(r"\\(.)", r"\1", pattern.strip("^$"))
    return plain if regex.search(plain) else None


def sunspec_model_ids() -> list[int]:
    """Return the model ids pysunspec2 ships definitions for."""
    import os

    import sunspec2

    folder = os.path.join(os.path.dirname(sunspec2.__file__), "models", "json")
    names = (f[6:-5] for f in os.listdir(folder) if f.startswith("model_") and f.endswith(".json"))
    return sorted(int(n) for n in names if n.isdigit())


@functools.lru_cache(maxsize=256)
def _model_length(model_id: int) -> int:
    from smartbuild.transports.modbus.sunspec import model_points

    points = model_points(model_id)
    return sum(size for _, size, _ in points.values()) - 2  # L counts what follows ID and L


def sunspec_chain(template: Template, wanted: list[int]) -> list[tuple[int, int, int]]:
    """Return the SunSpec models ``(header address, id, L)`` that the template's points lie in.

    The chain is rebuilt from pysunspec2's definitions: at each header the model whose point
    names sit at exactly the template's addresses wins (the identify list is tried first).
    """
    from smartbuild.transports.modbus.sunspec import BASES, model_points

    named = {n: template.pdu_address(p) for n, p in template.points.items() if p.table == "holding"}
    if not named:
        return []
    lowest = min(named.values())
    base = max((b for b in BASES if b + 2 <= lowest), default=None)
    if base is None:
        return []
    chain: list[tuple[int, int, int]] = []
    header = base + 2
    for _ in range(32):  # bounded: no real chain has more models

        def score(model_id: int, at: int = header) -> int:
            points = model_points(model_id).items()
            return sum(1 for n, (off, _, _) in points if named.get(n) == at + off)

        # the models the template names first; the whole pysunspec2 library only if none fits
        scores = {m: score(m) for m in wanted if m not in (c[1] for c in chain)}
        if not any(scores.values()):
            scores = {m: score(m) for m in sunspec_model_ids()}
        best = max(scores, key=lambda m: scores[m], default=None)
        if best is None or scores[best] == 0:
            break
        chain.append((header, best, _model_length(best)))
        header += 2 + _model_length(best)
    for model_id in wanted:  # a model the template names but maps no point of
        if model_id not in (c[1] for c in chain):
            chain.append((header, model_id, _model_length(model_id)))
            header += 2 + _model_length(model_id)
    return chain


@functools.lru_cache(maxsize=1 << 16)
def _encode_int(raw: int, data_type: str, order: str) -> tuple[int, ...]:
    # whole numbers repeat tick after tick (a temperature in tenths): encode each one once
    return tuple(modbus_codec.encode(raw, data_type, order))


class PointMap:
    """Encode a template's point values into register tables and decode client writes."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self.points: dict[str, ServedPoint] = {}
        for name, spec in template.points.items():
            assert spec.table is not None and spec.address is not None
            dtype = "BITS" if spec.table in ("coil", "discrete") else spec.type.upper()
            self.points[name] = ServedPoint(
                name, spec, spec.table, template.pdu_address(spec), spec.register_count(),
                dtype, template.word_order(spec),
            )  # fmt: skip
        rules = template.identify.modbus if template.identify else None
        self.fixed: dict[int, int] = {}  # holding registers of the SunSpec chain
        self.chain: list[tuple[int, int, int]] = []
        if rules is not None and rules.sunspec:
            self.chain = sunspec_chain(template, list(rules.sunspec))
            if self.chain:
                first = self.chain[0][0]
                self.fixed[first - 2], self.fixed[first - 1] = 0x5375, 0x6E53  # "SunS"
                for header, model_id, length in self.chain:
                    self.fixed[header], self.fixed[header + 1] = model_id, length
                end = self.chain[-1][0] + 2 + self.chain[-1][2]
                self.fixed[end], self.fixed[end + 1] = 0xFFFF, 0
        self.writable = [n for n, p in self.points.items() if p.spec.writable]
        self.scale_factors = {p.spec.sf for p in self.points.values() if p.spec.sf}
        self._sf_cache: dict[str, int] = {}

    # ---- what the unit says about itself --------------------------------------------

    def identity(self, revision: str = "1.0") -> dict[str, str] | None:
        """Return FC43 objects that satisfy the template's identify rules (None without rules)."""
        rules = self.template.identify.modbus if self.template.identify else None
        if rules is None:
            return None
        t = self.template
        objects: dict[str, str] = {}
        table: list[tuple[str, str, list[str | None]]] = [
            ("vendor_name", "VendorName", [t.vendor]),
            ("product_code", "ProductCode", [t.model, t.template]),
            ("revision", "MajorMinorRevision", [revision]),
            ("product_name", "ProductName", [t.title]),
            ("model_name", "ModelName", [t.model, t.title]),
        ]
        for field, key, hints in table:
            pattern = getattr(rules, field)
            value = literal_for(pattern, hints) if pattern else None
            if value:
                objects[key] = value
        if not objects:
            return None
        objects.setdefault("VendorName", t.vendor or "smartbuild")
        objects.setdefault("ProductCode", t.model or t.template)
        objects.setdefault("MajorMinorRevision", revision)
        objects.setdefault("ProductName", t.title)
        return objects

    def server_id(self) -> bytes | None:
        """Return the FC17 server id a ``server_id`` identify rule expects."""
        rules = self.template.identify.modbus if self.template.identify else None
        if rules is None or rules.server_id is None:
            return None
        text = literal_for(rules.server_id, [self.template.model, self.template.template])
        return text.encode() if text else None

    # ---- encoding -----------------------------------------------------------------------

    def _sf_exponent(self, sf_name: str, values: Mapping[str, Any]) -> int:
        """Pick the finest exponent at which every point scaled by this factor still fits."""
        members = [p for p in self.points.values() if p.spec.sf == sf_name]
        if any(p.spec.writable for p in members) and sf_name in self._sf_cache:
            return self._sf_cache[sf_name]  # a client may hold the factor between read and write
        for exponent in SF_RANGE:
            ok = True
            for p in members:
                value = values.get(p.name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if p.spec.writable and p.spec.max is not None:
                    value = max(abs(value), abs(p.spec.max), abs(p.spec.min or 0))
                raw = (value - p.spec.offset) / p.spec.scale / 10.0**exponent
                lo, hi = _INT_LIMITS.get(p.type, (-math.inf, math.inf))
                if not lo <= round(raw) <= hi:
                    ok = False
                    break
            if ok:
                self._sf_cache[sf_name] = exponent
                return exponent
        return SF_RANGE[-1]

    def _registers(self, p: ServedPoint, value: Any, exponent: int | None) -> list[int]:
        spec = p.spec
        if p.type == "STRING":
            text = str(value).encode("utf-8")[: 2 * p.count].decode("utf-8", "ignore")
            return modbus_codec.encode(text, "STRING", p.order, length=2 * p.count)
        if p.type in _INT_LIMITS:
            number = float(value)
            raw = (number - spec.offset) / spec.scale / (10.0**exponent if exponent else 1.0)
            lo, hi = _INT_LIMITS[p.type]
            return list(_encode_int(min(max(round(raw), lo), hi), p.type, p.order))
        return modbus_codec.encode(float(value), p.type, p.order, spec.scale, spec.offset)

    def tables(self, values: Mapping[str, Any]) -> Tables:
        """Return the unit's four tables holding ``values`` (engineering units, by point name)."""
        out: Tables = {"holding": {}, "input": {}, "coil": {}, "discrete": {}}
        exponents = {sf: self._sf_exponent(sf, values) for sf in self.scale_factors}
        for name, p in self.points.items():
            if name in exponents:
                value: Any = exponents[name]
            else:
                value = values.get(name, 0)
            table = out[p.table]
            if p.table in ("coil", "discrete"):
                table[p.address] = bool(value)
            elif p.spec.bit is not None:
                word = int(table.get(p.address, 0))
                mask = 1 << p.spec.bit
                table[p.address] = (word | mask) if value else (word & ~mask)
            else:
                regs = self._registers(p, value, exponents.get(p.spec.sf or ""))
                for i, reg in enumerate(regs):
                    table[p.address + i] = reg
        out["holding"].update(self.fixed)
        return out

    # ---- decoding -----------------------------------------------------------------------

    def decode(self, name: str, tables: Mapping[str, Mapping[int, Any]]) -> Any:
        """Return a point's engineering value from register tables (what a client wrote)."""
        p = self.points[name]
        table = tables[p.table]
        if p.table in ("coil", "discrete"):
            return bool(table.get(p.address, False))
        if p.spec.bit is not None:
            return bool((int(table.get(p.address, 0)) >> p.spec.bit) & 1)
        words = [int(table.get(p.address + i, 0)) for i in range(p.count)]
        if p.type == "STRING":
            return str(modbus_codec.decode(words, "STRING", p.order)).rstrip("\0")
        scale, offset = p.spec.scale, p.spec.offset
        if p.spec.sf:
            exponent = self.decode(p.spec.sf, tables)
            raw = cast(float, modbus_codec.decode(words, p.type, p.order))
            return float(raw) * 10.0 ** int(exponent) * scale + offset
        return modbus_codec.decode(words, p.type, p.order, scale, offset)

    def changed_writes(
        self, before: Mapping[str, Mapping[int, Any]], now: Mapping[str, Mapping[int, Any]]
    ) -> dict[str, Any]:
        """Return the writable points whose registers differ between two table images."""
        out: dict[str, Any] = {}
        for name in self.writable:
            p = self.points[name]
            a, b = before.get(p.table, {}), now.get(p.table, {})
            if any(a.get(p.address + i) != b.get(p.address + i) for i in range(p.count)):
                out[name] = self.decode(name, now)
        return out

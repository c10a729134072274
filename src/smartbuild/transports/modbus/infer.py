"""Guess a register map from register values: types, word orders, scales, what each value is.

Pure functions, no I/O (``infer_scan`` reads the device). Input: for each table, the served
registers and several reads of them. Every address gets candidate decodings (16/32/64-bit,
signed or not, float, all word orders, scales 1/0.1/0.01/0.001); each candidate is scored for
plausibility: the value must fall in the range of a known quantity (mains voltage, frequency,
power factor, temperature, humidity, CO2, current, power, energy), stay stable over the reads
(or rise, for a counter), and be a "round" number at its scale. Relations between candidates
raise confidence: voltage x current close to a power, counters that only grow. Finally a dynamic
programme picks non-overlapping candidates with the highest total score per served run.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

Samples = dict[int, list[int]]  # address -> the register's value in each read


@dataclass(frozen=True)
class Quantity:
    """A kind of value a device reports, with the range it plausibly takes."""

    name: str
    unit: str | None
    low: float
    high: float
    weight: float  # how telling a value in this range is (narrow ranges tell more)
    signed: bool = False  # int16 rather than uint16 when integers carry it
    scales: tuple[float, ...] = (1.0,)  # the resolutions devices send it in as integers
    typical: tuple[tuple[float, float], ...] = ()  # where most values fall; outside counts less


QUANTITIES: tuple[Quantity, ...] = (
    Quantity(
        "frequency", "Hz", 45, 65, 1.0, scales=(0.01, 0.1), typical=((49.5, 50.5), (59.5, 60.5))
    ),
    Quantity("voltage", "V", 180, 260, 1.0, scales=(0.1, 1.0, 0.01), typical=((220, 245),)),
    Quantity("line_voltage", "V", 340, 450, 0.95, scales=(0.1, 1.0), typical=((380, 415),)),
    Quantity(
        "power_factor",
        None,
        0.5,
        1.0,
        0.8,
        signed=True,
        scales=(0.001, 0.01),
        typical=((0.8, 1.0),),
    ),
    Quantity("co2", "ppm", 380, 3000, 0.7, typical=((400, 1500),)),
    Quantity(
        "temperature", "°C", -30, 90, 0.75, signed=True, scales=(0.1, 0.01), typical=((-10, 65),)
    ),
    Quantity("humidity", "%", 5, 100, 0.6, scales=(0.1, 1.0), typical=((25, 70),)),
    Quantity("current", "A", 0.05, 80, 0.45, scales=(0.1, 0.01), typical=((0.1, 40),)),
    Quantity("power", "W", -50_000, 50_000, 0.2, signed=True, scales=(1.0, 0.1)),
    Quantity("energy", "kWh", 0.01, 10_000_000, 0.15, scales=(1.0, 0.1, 0.01, 0.001)),
    Quantity("percent", "%", 0, 100, 0.45, scales=(1.0, 0.01, 0.1)),
    Quantity("setting", None, 0, 20, 0.5, typical=((0, 10),)),
    # a mode, a state or a few flags: a small integer that holds still (see score_values)
    Quantity("state", None, 0, 15, 0.5),
)
SCALES = (1.0, 0.1, 0.01, 0.001)
ORDER_PRIOR = {"ABCD": 1.0, "CDAB": 0.9, "BADC": 0.5, "DCBA": 0.5}
MIN_SCORE = 0.3
POINT_COST = 0.3  # what the tiling charges per point: two weak guesses must not beat one good


@dataclass(frozen=True)
class Candidate:
    """One decoding of registers at ``address``: type, order, scale, and what it looks like."""

    table: str
    address: int
    count: int
    type: str
    order: str
    scale: float
    values: tuple[float, ...]
    quantity: Quantity | None
    score: float
    notes: tuple[str, ...] = ()

    @property
    def end(self) -> int:
        """Return the first register after the candidate."""
        return self.address + self.count


@dataclass
class InferredMap:
    """The chosen points per table, and what was scanned."""

    points: list[Candidate] = field(default_factory=list)
    served: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # runs per table
    requests: int = 0
    error: str | None = None  # why the scan stopped early: the unit fell silent


def _words(regs: Sequence[int], order: str) -> bytes:
    data = b"".join(r.to_bytes(2, "big") for r in regs)
    if order in ("BADC", "DCBA"):  # bytes swapped inside each register
        data = b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    if order in ("CDAB", "DCBA"):  # low word first
        data = b"".join(data[i : i + 2] for i in range(len(data) - 2, -2, -2))
    return data


def decode(regs: Sequence[int], kind: str, order: str) -> float:
    """Return registers decoded as ``kind`` (uint16 ... float64) in a word order."""
    data = _words(regs, order)
    fmt = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f",
           "uint64": ">Q", "int64": ">q", "float64": ">d"}[kind]  # fmt: skip
    return float(struct.unpack(fmt, data)[0])


KINDS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("uint16", 1, ("ABCD",)),
    ("int16", 1, ("ABCD",)),
    ("float32", 2, ("ABCD", "CDAB", "BADC", "DCBA")),
    ("uint32", 2, ("ABCD", "CDAB")),
    ("int32", 2, ("ABCD", "CDAB")),
    ("float64", 4, ("ABCD", "DCBA")),
)


def _round_at(value: float, scale: float) -> bool:
    """Return whether a value has at most the digits its scale implies (23.5 at 0.1)."""
    steps = value / scale
    return abs(steps - round(steps)) < 1e-6 * max(1.0, abs(steps))


def score_values(kind: str, scale: float, values: Sequence[float], discount: Mapping[str, float] | None = None) -> tuple[Quantity | None, float, list[str]]:  # fmt: skip
    """Return the best quantity for a decoded series, its score (0..~1.5) and why.

    ``discount`` lowers the weight of some quantities (by name) before the best is chosen.
    """
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return None, 0.0, []
    notes: list[str] = []
    if all(v == 0 for v in values):
        return None, 0.0, []
    best: tuple[Quantity | None, float] = (None, 0.0)
    is_float = kind.startswith("float")
    spread = max(values) - min(values)
    rising = (
        len(values) > 1
        and kind not in ("uint16", "int16")  # a 16-bit counter wraps too soon to be one
        and list(values) == sorted(values)
        and 0 < spread <= 0.05 * max(abs(v) for v in values)
    )
    for q in QUANTITIES:
        if not is_float and scale not in q.scales:
            continue
        if q.name == "state" and is_float:
            continue  # modes and flags are integers on the wire
        if all(q.low <= v <= q.high for v in values):
            weight = q.weight * (discount or {}).get(q.name, 1.0)
            if q.name == "state":
                # A small integer that holds still over the reads is a mode, a state or a few
                # flags far more often than a tenth of a degree either side of zero; one that
                # moves is more likely a measurement (an outdoor temperature near 0 °C).
                weight = 0.6 if len(values) == 1 else 0.9 if spread == 0 else 0.25
            if q.typical and not any(all(lo <= v <= hi for v in values) for lo, hi in q.typical):
                if not is_float:
                    continue  # random registers land in wide integer ranges all too often
                weight *= 0.6
            if kind.startswith("int") and not q.signed and min(values) >= 0:
                weight *= 0.9  # a signed type for a quantity that is never negative
            if kind == "uint16" and q.signed:
                weight *= 0.9
            if rising and q.name == "energy" and not is_float:
                weight += 1.0  # chosen as a counter (the bonus itself is added below)
            if weight > best[1]:
                best = (q, weight)
    quantity, score = best
    if rising and quantity is not None and quantity.name == "energy" and not is_float:
        score -= 1.0
    if quantity is None:
        return None, 0.0, []
    if kind.startswith("float"):
        if any(v != 0 and not 1e-4 <= abs(v) <= 1e8 for v in values):
            return None, 0.0, []
        if scale != 1.0:
            return None, 0.0, []
        score *= 2.0  # a float landing in a narrow range is rarely an accident; a wide one can be
        if any(0 < abs(v) < 0.01 for v in values):
            score *= 0.3  # tiny floats are what a wrong word order makes of ordinary ones
    else:
        raw = [v / scale for v in values]
        score *= 1.0 - 0.1 * quantity.scales.index(scale)  # the usual resolution first
        if kind in ("uint32", "int32") and max(abs(r) for r in raw) < 65536:
            score *= 0.7  # could as well be one register and a zero
    if len(values) > 1 and spread == 0:
        score += 0.05
        notes.append(f"stable over {len(values)} reads")
    elif rising and quantity.name == "energy":
        score += 1.0  # a wide value rising slowly over every read: a counter, not chance
        notes.append("rises like a counter")
    elif len(values) > 1 and spread > 0.5 * max(abs(v) for v in values):
        score *= 0.5  # jumps around: more likely the wrong type or order
    return quantity, score, notes


def candidates(table: str, samples: Samples, start: int, end: int, discount: Mapping[str, float] | None = None) -> list[Candidate]:  # fmt: skip
    """Return every plausible decoding of a served run ``[start, end)`` of one table."""
    rounds = min((len(v) for v in samples.values()), default=0)
    out: list[Candidate] = []
    for address in range(start, end):
        for kind, count, orders in KINDS:
            if address + count > end:
                continue
            regs_by_read = [[samples[address + i][r] for i in range(count)] for r in range(rounds)]
            for order in orders:
                raw = [decode(regs, kind, order) for regs in regs_by_read]
                for scale in SCALES if not kind.startswith("float") else (1.0,):
                    values = tuple(v * scale for v in raw)
                    quantity, score, notes = score_values(kind, scale, values, discount)
                    score *= ORDER_PRIOR[order]  # big-endian words are the usual order
                    if count > 1 and any(not any(r[i] for r in regs_by_read) for i in range(count)):
                        score *= 0.7  # a zero word: likely a misaligned read of a neighbour
                    counter = "rises like a counter" in notes and not kind.startswith("float")
                    if counter and not _counts(regs_by_read, order):
                        score -= 1.0
                        notes = [n for n in notes if n != "rises like a counter"]
                    if quantity is not None and score >= MIN_SCORE:
                        out.append(Candidate(table, address, count, kind, order, scale, values,
                                             quantity, score, tuple(notes)))  # fmt: skip
    return out


WIDE_SCORE = 0.9  # a 32-bit value told by the zeros of its block's high words, not its value
WIDE_PAIRS = 3  # how many such values a block needs before its zeros count as high words


def wide_candidates(table: str, samples: Samples, start: int, end: int) -> list[Candidate]:
    """Return the 32-bit values of a block whose every high word reads 0 (big-endian words).

    Many meters send every value as a 32-bit integer, high word first, and small values leave
    the high words at 0: registers 0, 2, 4, ... read 0 on every read while 1, 3, 5, ... carry
    values. Each of those values alone reads as well as a 16-bit register (a flow of 478 L/h as
    47.8 °C); the block's pattern tells the width. Nothing tells whether such a value is
    signed, so it is proposed unsigned, without a quantity unless its value fits one well.
    """
    pairs = [(a, a + 1) for a in range(start, end - 1, 2)]
    if any(any(samples[high]) for high, _ in pairs):
        return []
    carrying = [(high, low) for high, low in pairs if any(samples[low])]
    if len(carrying) < WIDE_PAIRS:
        return []
    out = []
    for high, low in carrying:
        values = tuple(float(v) for v in samples[low])
        quantity, score, notes = score_values("uint32", 1.0, values)
        if score < WIDE_SCORE:  # a weak fit (478 as 478 ppm) would only mislabel the value
            quantity, score, notes = None, WIDE_SCORE, []
        notes = ["every high word of its block reads 0", *notes]
        out.append(Candidate(table, high, 2, "uint32", "ABCD", 1.0, values, quantity, score,
                             tuple(notes)))  # fmt: skip
    return out


def _counts(regs_by_read: list[list[int]], order: str) -> bool:
    """Return whether registers that rise as an integer behave like a counter's words.

    A counter's high word holds still between reads (or steps by one) and every rise shows in
    its low word. And when the same words read as a plausible float, they are more likely one:
    a float's high word (sign, exponent, leading digits) holds still while its low word moves,
    whereas an integer counter reaches 0x3c00_0000 (the float exponents of everyday values)
    only after a billion counts.
    """
    count = len(regs_by_read[0])
    top, low = (0, count - 1) if order in ("ABCD", "BADC") else (count - 1, 0)
    if max(r[top] for r in regs_by_read) - min(r[top] for r in regs_by_read) > 1:
        return False
    for before, after in pairwise(regs_by_read):
        if before != after and before[low] == after[low]:
            return False  # the value moved but its low word did not
    if count == 2:
        floats = [decode(regs, "float32", order) for regs in regs_by_read]
        if score_values("float32", 1.0, floats)[1] >= MIN_SCORE:
            return False
    return True


def relate(picks: list[Candidate]) -> list[Candidate]:
    """Label and raise chosen points that fit V x I ~ P (a voltage, a current and a power)."""
    volts = [c for c in picks if c.quantity and c.quantity.name == "voltage"]
    label = {q.name: q for q in QUANTITIES}
    out = {id(c): c for c in picks}
    for v in volts:
        same = [c for c in picks if (c.type, c.order, c.scale) == (v.type, v.order, v.scale)]
        for i in same:
            amps = i.values[-1]
            if i is v or _named(i, NOT_CURRENT) or not 0.05 <= amps <= 80:
                continue
            for p in same:
                if p is v or p is i or _named(p, NOT_POWER):
                    continue
                if not 0.5 <= abs(p.values[-1]) / (v.values[-1] * amps) <= 1.05:
                    continue
                for c, name in ((i, "current"), (p, "power")):
                    if "fits V x I ~ P" not in out[id(c)].notes:
                        out[id(c)] = replace(c, quantity=label[name], score=c.score + 0.2,
                                             notes=(*c.notes, "fits V x I ~ P"))  # fmt: skip
    return [out[id(c)] for c in picks]


NOT_CURRENT = ("voltage", "line_voltage", "frequency", "power_factor")
NOT_POWER = ("voltage", "line_voltage", "frequency", "power_factor")


def _named(c: Candidate, names: tuple[str, ...]) -> bool:
    return c.quantity is not None and c.quantity.name in names


def best_tiling(cands: Iterable[Candidate], start: int, end: int) -> list[Candidate]:
    """Return non-overlapping candidates of one run with the highest total score (DP)."""
    by_start: dict[int, list[Candidate]] = {}
    for c in cands:
        by_start.setdefault(c.address, []).append(c)
    size = end - start
    best = [0.0] * (size + 1)
    choice: list[Candidate | None] = [None] * (size + 1)
    for offset in range(size - 1, -1, -1):
        best[offset], choice[offset] = best[offset + 1], None
        for c in by_start.get(start + offset, []):
            total = c.score - POINT_COST + best[offset + c.count]
            if total > best[offset] + 1e-9:
                best[offset], choice[offset] = total, c
    out, offset = [], 0
    while offset < size:
        picked = choice[offset]
        if picked is None:
            offset += 1
        else:
            out.append(picked)
            offset += picked.count
    return out


def runs(addresses: Iterable[int]) -> list[tuple[int, int]]:
    """Return the consecutive runs ``(start, end)`` of a set of addresses."""
    out: list[tuple[int, int]] = []
    for a in sorted(addresses):
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], a + 1)
        else:
            out.append((a, a + 1))
    return out


ELECTRICAL = ("voltage", "line_voltage", "frequency", "power_factor")
# what an electrical quantity keeps of its weight in a table without an electrical companion
ALONE = dict.fromkeys(ELECTRICAL, 0.5)


def infer_map(tables: dict[str, Samples]) -> InferredMap:
    """Return the most plausible points of each table from its sampled registers."""
    result = InferredMap()
    for table, samples in tables.items():
        result.served[table] = runs(samples)
        found, first = _guess(table, samples, result.served[table])
        if not _metered([c for picks in first.values() for c in picks]):
            found, first = _guess(table, samples, result.served[table], ALONE)
        for span, cands in found.items():
            result.points.extend(relate(best_tiling(_alike(cands, first[span]), *span)))
    return result


Spans = dict[tuple[int, int], list[Candidate]]


def _guess(table: str, samples: Samples, served: list[tuple[int, int]], discount: Mapping[str, float] | None = None) -> tuple[Spans, Spans]:  # fmt: skip
    """Return the candidates of each served run and their best tiling (a first pick)."""
    found = {span: candidates(table, samples, *span, discount) + wide_candidates(table, samples, *span)
             for span in served}  # fmt: skip
    if table == "holding":
        for span in found:
            found[span] += sunspec_candidates(samples, *span)
    return found, {span: best_tiling(cands, *span) for span, cands in found.items()}


def _metered(picks: list[Candidate]) -> bool:
    """Return whether a table's picks look like a meter's: three electrical kinds, or V x I ~ P.

    A meter reports a mains voltage together with currents, powers, the frequency or the power
    factor; a 240 (24.0 °C), a 50.0 (a setpoint) or a 1000 (1000 ppm) reads as an electrical
    quantity only by chance, and two such chances in one controller happen.
    """
    names = (*ELECTRICAL, "current", "power")
    kinds = {c.quantity.name for c in picks if c.quantity and c.quantity.name in names}
    return len(kinds) >= 3 or any("fits V x I ~ P" in c.notes for c in relate(picks))


def _alike(found: list[Candidate], picked: list[Candidate]) -> list[Candidate]:
    """Raise candidates encoded like most of a first pick: devices keep one style per block.

    Only multi-register values count: their word order and width are a device's habit, while
    16-bit registers mix scales and signs (a mode beside a temperature in tenths) on most maps.
    """
    styles = Counter(_style(c) for c in picked if c.count > 1)
    total = sum(styles.values())
    if not total:
        return found
    return [
        replace(c, score=c.score + 0.4 * styles[_style(c)] / total) if c.count > 1 else c
        for c in found
    ]


def _style(c: Candidate) -> tuple[str, str, float, int]:
    """Return how a candidate is encoded: type, order, scale and (multi-register) alignment."""
    return c.type, c.order, c.scale, c.address % 2 if c.count > 1 else -1


SUNSPEC_TYPES = {"int16": "int16", "sunssf": "int16", "uint16": "uint16", "enum16": "uint16",
                 "bitfield16": "uint16", "acc16": "uint16", "count": "uint16", "int32": "int32",
                 "uint32": "uint32", "acc32": "uint32", "bitfield32": "uint32", "enum32": "uint32",
                 "float32": "float32", "acc64": "uint64", "int64": "int64", "uint64": "uint64",
                 "float64": "float64"}  # fmt: skip
SUNSPEC_SCORE = 3.0  # a SunSpec device describes its own map: this is no guess


def sunspec_candidates(samples: Samples, start: int, end: int) -> list[Candidate]:
    """Return the points of a SunSpec model chain found in a run (marker "SunS" at its base)."""
    from smartbuild.transports.modbus.sunspec import BASES, END, MARKER, model_points

    out: list[Candidate] = []
    for base in BASES:
        if not (start <= base and base + 2 <= end):
            continue
        if (samples[base][0], samples[base + 1][0]) != MARKER:
            continue
        header = base + 2
        for _ in range(64):  # bounded, as in discovery
            if header + 2 > end or samples[header][0] == END:
                break
            model_id, length = samples[header][0], samples[header + 1][0]
            try:
                points = model_points(model_id)
            except (OSError, ValueError, KeyError):
                points = {}
            for name, (offset, size, kind) in points.items():
                address, wire = header + offset, SUNSPEC_TYPES.get(kind)
                if wire is None or offset < 2 or address + size > end or name in ("ID", "L"):
                    continue
                regs = [[samples[address + i][r] for i in range(size)]
                        for r in range(len(samples[address]))]  # fmt: skip
                values = tuple(decode(v, wire, "ABCD") for v in regs)
                out.append(Candidate("holding", address, size, wire, "ABCD", 1.0, values, None,
                                     SUNSPEC_SCORE * size, (f"SunSpec model {model_id} {name}",)))  # fmt: skip
            header += 2 + length
    return out


def confidence(c: Candidate) -> float:
    """Return a 0..1 confidence of a chosen point (its score, squashed)."""
    return round(min(0.99, c.score / 1.5), 2)

"""Map inference on register samples (pure): word orders, scales, counters, V x I ~ P, tiling."""

from __future__ import annotations

import struct

import pytest

from smartbuild.errors import UsageError
from smartbuild.transports.modbus.infer import best_tiling, candidates, decode, infer_map, runs
from smartbuild.transports.modbus.infer_scan import parse_ranges, template_yaml


def f32(value: float, order: str = "ABCD") -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if order == "ABCD" else [lo, hi]


def samples(*reads: dict[int, int]) -> dict[int, list[int]]:
    return {a: [r[a] for r in reads] for a in reads[0]}


@pytest.mark.parametrize("order", ["ABCD", "CDAB", "BADC", "DCBA"])
def test_decode_reads_every_word_order(order: str) -> None:
    data = struct.pack(">f", 229.5)
    if order in ("BADC", "DCBA"):
        data = bytes([data[1], data[0], data[3], data[2]])
    regs = [int.from_bytes(data[:2], "big"), int.from_bytes(data[2:], "big")]
    if order in ("CDAB", "DCBA"):
        regs.reverse()
    assert decode(regs, "float32", order) == pytest.approx(229.5)


def test_a_meter_in_low_word_first_floats_is_read_in_cdab() -> None:
    regs = {0: 0, 1: 0}  # an unused pair in front, as on real maps
    for address, value in ((2, 230.4), (4, 5.0), (6, 1117.0), (8, 50.01)):
        regs[address], regs[address + 1] = f32(value, "CDAB")
    result = infer_map({"input": samples(regs, regs)})
    got = {c.address: c for c in result.points}
    assert sorted(got) == [2, 4, 6, 8]
    assert {c.order for c in got.values()} == {"CDAB"} and {c.type for c in got.values()} == {
        "float32"
    }
    assert got[8].quantity is not None and got[8].quantity.name == "frequency"
    assert "fits V x I ~ P" in got[6].notes  # 230.4 V x 5 A x 0.97 ~ 1117 W


def test_a_rising_uint32_counter_beats_two_registers() -> None:
    first = {0: 0x0045, 1: 0xB3D2, 2: 215}
    second = {0: 0x0045, 1: 0xB400, 2: 215}
    third = {0: 0x0045, 1: 0xB420, 2: 216}
    result = infer_map({"input": samples(first, second, third)})
    got = {c.address: c for c in result.points}
    assert (got[0].type, got[0].order, got[0].scale) == ("uint32", "ABCD", 1.0)
    assert "rises like a counter" in got[0].notes
    assert (got[2].type, got[2].scale) == ("int16", 0.1)  # 21.5 °C in tenths


def test_zero_runs_propose_nothing_and_runs_split_on_holes() -> None:
    assert runs([0, 1, 2, 5, 6, 9]) == [(0, 3), (5, 7), (9, 10)]
    zeros = samples({0: 0, 1: 0, 2: 0})
    assert candidates("holding", zeros, 0, 3) == [] and best_tiling([], 0, 3) == []


def test_parse_ranges_and_template_text() -> None:
    assert parse_ranges(["0-9", "input:100-101"]) == {
        "holding": [(0, 10)], "input": [(0, 10), (100, 102)]}  # fmt: skip
    for bad in ("9-1", "coil:0-1", "0-70000", "x"):
        with pytest.raises(UsageError):
            parse_ranges([bad])
    regs = {0: f32(230.1)[0], 1: f32(230.1)[1]}
    text = template_yaml(infer_map({"input": samples(regs)}), "t", 'a "quoted" title', "h:1 unit 1")
    assert "input_0_voltage: {table: input, address: 0, type: float32" in text
    assert '"a \\"quoted\\" title"' in text

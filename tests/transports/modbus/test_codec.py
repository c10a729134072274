"""Tests for smartbuild.transports.modbus.codec: known vectors, round trips, range checks."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartbuild.transports.modbus import codec
from smartbuild.transports.modbus.codec import WORD_ORDERS, decode, decode_all_orders, encode

INT_TYPES = {
    "INT16": (-(2**15), 2**15 - 1),
    "UINT16": (0, 2**16 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "UINT32": (0, 2**32 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT64": (0, 2**64 - 1),
}


def _bytes_to_regs(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _reference(value: float, fmt: str, order: str) -> list[int]:
    """Build the wire registers with struct alone, from the order's letters."""
    big = struct.pack(f">{fmt}", value)
    if order == "ABCD":
        data = big
    elif order == "DCBA":
        data = big[::-1]
    else:
        words = [big[i : i + 2] for i in range(0, len(big), 2)]
        if order == "CDAB":
            words.reverse()
        else:  # BADC
            words = [w[::-1] for w in words]
        data = b"".join(words)
    return _bytes_to_regs(data)


def test_register_counts_match_pymodbus_datatype_table() -> None:
    # Contract test: our import-free table must stay equal to the pinned pymodbus one.
    from pymodbus.client.mixin import ModbusClientMixin

    assert {d.name: d.value[1] for d in ModbusClientMixin.DATATYPE} == codec.REGISTERS


@pytest.mark.parametrize(
    ("data_type", "length", "expected"),
    [
        ("INT16", None, 1),
        ("uint32", None, 2),
        ("FLOAT64", None, 4),
        ("STRING", 1, 1),
        ("STRING", 16, 8),
        ("STRING", 17, 9),
        ("BITS", None, 1),
        ("BITS", 17, 2),
    ],
)
def test_register_count(data_type: str, length: int | None, expected: int) -> None:
    assert codec.register_count(data_type, length) == expected


@pytest.mark.parametrize(
    ("data_type", "length", "message"),
    [
        ("STRING", None, "needs a length"),
        ("STRING", 0, "at least 1"),
        ("INT32", 4, "fixed size"),
        ("REAL", None, "unknown data type 'REAL'"),
    ],
)
def test_register_count_refuses(data_type: str, length: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec.register_count(data_type, length)


@pytest.mark.parametrize(
    ("order", "registers"),
    [
        ("ABCD", [0x42F6, 0xE979]),
        ("CDAB", [0xE979, 0x42F6]),
        ("BADC", [0xF642, 0x79E9]),
        ("DCBA", [0x79E9, 0xF642]),
    ],
)
def test_float32_known_vectors(order: str, registers: list[int]) -> None:
    assert encode(123.456, "FLOAT32", order) == registers
    assert decode(registers, "FLOAT32", order) == pytest.approx(123.456, rel=1e-7)


def test_known_integer_vectors() -> None:
    assert encode(-2, "INT16") == [0xFFFE]
    assert decode([0xFFFE], "INT16") == -2
    assert decode([0xFFFE], "UINT16") == 65534
    assert encode(0x12345678, "UINT32", "CDAB") == [0x5678, 0x1234]
    assert encode(0x12345678, "UINT32", "BADC") == [0x3412, 0x7856]
    assert encode(0x0102030405060708, "UINT64", "DCBA") == [0x0807, 0x0605, 0x0403, 0x0201]
    # CDAB for 64-bit values follows pymodbus: little-endian word order across all four.
    assert encode(0x0102030405060708, "UINT64", "CDAB") == [0x0708, 0x0506, 0x0304, 0x0102]


@given(st.data())
@settings(max_examples=600, deadline=None)
def test_integer_round_trip_matches_struct_reference(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(INT_TYPES)))
    lo, hi = INT_TYPES[name]
    value = data.draw(st.integers(lo, hi))
    order = data.draw(st.sampled_from(WORD_ORDERS))
    fmt = {"INT16": "h", "UINT16": "H", "INT32": "i", "UINT32": "I", "INT64": "q", "UINT64": "Q"}
    regs = encode(value, name, order)
    assert regs == _reference(value, fmt[name], order)
    assert decode(regs, name, order) == value


@given(
    st.sampled_from(["FLOAT32", "FLOAT64"]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(WORD_ORDERS),
)
@settings(max_examples=400, deadline=None)
def test_float_round_trip(name: str, value: float, order: str) -> None:
    regs = encode(value, name, order)
    assert regs == _reference(value, "f" if name == "FLOAT32" else "d", order)
    assert decode(regs, name, order) == value  # float32-representable values survive exactly


@given(
    st.integers(-32768, 32767),
    st.sampled_from([0.1, 0.01, 0.5, 10, -1, 0.001]),
    st.sampled_from([0, -40, 273.15, 5]),
    st.sampled_from(WORD_ORDERS),
)
@settings(max_examples=400, deadline=None)
def test_scaled_round_trip_from_raw(raw: int, scale: float, offset: float, order: str) -> None:
    regs = encode(raw, "INT16", order)
    value = decode(regs, "INT16", order, scale=scale, offset=offset)
    assert encode(value, "INT16", order, scale=scale, offset=offset) == regs


def test_scaling_is_decimal_exact() -> None:
    assert decode([234], "INT16", scale=0.1) == 23.4
    assert decode([2215], "UINT16", scale=0.1, offset=-40) == 181.5
    assert decode([7], "UINT16", scale=2, offset=1) == 15
    assert isinstance(decode([7], "UINT16", scale=2, offset=1), int)
    assert encode(21.3, "INT16", scale=0.1) == [213]
    assert encode(0.1 + 0.2, "INT16", scale=0.1) == [3]  # binary noise within tolerance
    assert encode(-40, "UINT16", scale=0.1, offset=-40) == [0]


@pytest.mark.parametrize(
    ("value", "data_type", "kwargs", "message"),
    [
        (32768, "INT16", {}, "out of range for INT16: raw value 32768 is outside -32768..32767"),
        (-1, "UINT32", {}, "out of range for UINT32"),
        (2**64, "UINT64", {}, "out of range for UINT64"),
        (3276.8, "INT16", {"scale": 0.1}, "raw value after scale 0.1"),
        (21.35, "INT16", {"scale": 0.1}, "not a whole number of steps for INT16"),
        (1.5, "UINT16", {}, "raw value would be 1.5"),
        (1e39, "FLOAT32", {}, "out of range for FLOAT32"),
        (math.inf, "FLOAT64", {}, "not a finite number"),
        (math.nan, "FLOAT32", {}, "not a finite number"),
        (True, "UINT16", {}, "expects a number"),
        ("12", "INT16", {}, "expects a number"),
        (12, "STRING", {}, "expects text"),
        ("toolong", "STRING", {"length": 4}, "7 bytes long; the field holds 4"),
        ([True] * 17, "BITS", {"length": 16}, "17 bits do not fit a 16-bit field"),
        (1, "INT16", {"scale": 0}, "scale must not be 0"),
        ("x", "STRING", {"scale": 2}, "cannot be scaled"),
        (1, "INT16", {"word_order": "ADCB"}, "unknown word order"),
    ],
)
def test_encode_refuses_with_clear_message(
    value: object, data_type: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        encode(value, data_type, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("registers", "data_type", "message"),
    [
        ([1], "INT32", "INT32 needs 2 register"),
        ([1, 2, 3], "FLOAT64", "FLOAT64 needs 4 register"),
        ([70000], "UINT16", "not a 16-bit unsigned integer"),
        ([], "STRING", "no registers"),
    ],
)
def test_decode_refuses(registers: list[int], data_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(registers, data_type)


@given(
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=20),
    st.sampled_from(WORD_ORDERS),
)
@settings(max_examples=300, deadline=None)
def test_string_round_trip_with_padding(text: str, order: str) -> None:
    size = len(text.encode())
    length = size + 3
    regs = encode(text, "STRING", order, length=length)
    assert len(regs) == codec.register_count("STRING", length)
    assert decode(regs, "STRING", order) == text


def test_string_vectors() -> None:
    assert encode("SMA", "STRING") == [0x534D, 0x4100]
    assert encode("SMA", "STRING", "BADC") == [0x4D53, 0x0041]
    assert encode("SMA", "STRING", length=6) == [0x534D, 0x4100, 0]
    assert decode([0x534D, 0x4100, 0], "STRING") == "SMA"


@given(st.lists(st.booleans(), min_size=1, max_size=48), st.sampled_from(WORD_ORDERS))
@settings(max_examples=300, deadline=None)
def test_bits_round_trip(bits: list[bool], order: str) -> None:
    regs = encode(bits, "BITS", order)
    assert len(regs) == codec.register_count("BITS", len(bits))
    decoded = decode(regs, "BITS", order)
    assert isinstance(decoded, list)
    assert decoded[: len(bits)] == bits
    assert not any(decoded[len(bits) :])


def test_bits_order_follows_pymodbus_and_badc_gives_lsb_first() -> None:
    assert decode([0x0001], "BITS").index(True) == 8
    assert decode([0x0001], "BITS", "BADC").index(True) == 0


def test_decode_all_orders_for_two_and_four_registers() -> None:
    two = decode_all_orders([0x42F6, 0xE979])
    assert set(two) == {"INT32", "UINT32", "FLOAT32"}
    assert two["FLOAT32"]["ABCD"] == pytest.approx(123.456, rel=1e-7)
    assert two["UINT32"]["CDAB"] == 0xE97942F6
    assert two["INT32"]["DCBA"] == struct.unpack(">i", bytes.fromhex("79e9f642"))[0]
    four = decode_all_orders(encode(-1234567.25, "FLOAT64", "DCBA"))
    assert set(four) == {"INT32", "UINT32", "FLOAT32", "INT64", "UINT64", "FLOAT64"}
    assert four["FLOAT64"]["DCBA"] == -1234567.25
    assert all(set(v) == set(WORD_ORDERS) for v in four.values())
    with pytest.raises(ValueError, match="at least 2 registers"):
        decode_all_orders([1])


def test_codec_does_not_import_pymodbus_until_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import smartbuild.transports.modbus.codec as c; "
        "c.register_count('INT32'); print('pymodbus' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (1, ("coil", 0)),
        (9999, ("coil", 9998)),
        (10001, ("discrete", 0)),
        (30001, ("input", 0)),
        (30071, ("input", 70)),
        (40001, ("holding", 0)),
        (49999, ("holding", 9998)),
        (300001, ("input", 0)),
        (465536, ("holding", 65535)),
    ],
)
def test_modicon_address_names_table_and_pdu_address(address: int, expected: tuple) -> None:
    assert codec.modicon_address(address) == expected
    assert codec.pdu_address(address, "modicon") == expected[1]


@pytest.mark.parametrize("address", [0, 20001, 50001, 30000, 40000, 400000, 465537, 700001])
def test_modicon_address_refuses_what_is_not_one(address: int) -> None:
    with pytest.raises(ValueError, match="is not a Modicon address"):
        codec.modicon_address(address)

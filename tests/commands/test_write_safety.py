"""The write path against a raw Modbus TCP peer: exact bounds through device scale factors,
equality at the device's resolution, lost replies (unknown, never resent) and rollback of them.
"""

from __future__ import annotations

import asyncio
import json
import struct
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rigs import LoopThread

HOST = "127.0.6.1"

TEMPLATE = """\
template: sf-inverter
title: An inverter limit scaled by a SunSpec-style factor
transport: modbus
defaults: {settle: 0}
points:
  limit: {table: holding, address: 0, type: uint16, sf: limit_sf, unit: "%", writable: true, min: 0, max: 95}
  limit_sf: {table: holding, address: 1, type: int16}
  level: {table: holding, address: 2, type: float32, writable: true}
  scaled: {table: holding, address: 4, type: uint16, scale: 0.1, sf: scaled_sf, writable: true, min: 0, max: 5.5}
  scaled_sf: {table: holding, address: 5, type: int16}
"""


class RawPeer:
    """A Modbus TCP device written from the protocol: FC3 reads, FC6/FC16 writes, lost replies."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = dict(registers)
        self.write_frames = 0
        self.drop_write_replies = 0  # answer this many writes with silence (the write applies)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                tid, _pid, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                function = pdu[0]
                if function == 3:
                    address, count = struct.unpack(">HH", pdu[1:5])
                    words = [self.registers.get(address + i, 0) for i in range(count)]
                    body = struct.pack(">BB", 3, 2 * count) + b"".join(
                        struct.pack(">H", w) for w in words
                    )
                elif function == 6:
                    address, value = struct.unpack(">HH", pdu[1:5])
                    self.registers[address] = value
                    self.write_frames += 1
                    body = pdu[:5]
                elif function == 16:
                    address, count = struct.unpack(">HH", pdu[1:5])
                    for i in range(count):
                        self.registers[address + i] = struct.unpack(
                            ">H", pdu[6 + 2 * i : 8 + 2 * i]
                        )[0]
                    self.write_frames += 1
                    body = pdu[:5]
                else:
                    body = bytes([function | 0x80, 1])
                if function in (6, 16) and self.drop_write_replies:
                    self.drop_write_replies -= 1
                    continue  # the device applied it; its answer is lost
                writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[tuple[RawPeer, Path]]:
    lt = LoopThread()
    device = RawPeer({0: 500, 1: 0xFFFF, 4: 50, 5: 0})  # 50.0 % with a factor of -1; 5.0
    server = lt.run(asyncio.start_server(device.handle, HOST, 0))
    port = server.sockets[0].getsockname()[1]
    (tmp_path / "sf-inverter.yaml").write_text(TEMPLATE)
    site = tmp_path / "site.yaml"
    site.write_text(textwrap.dedent(f"""\
        site: raw
        templates: [sf-inverter.yaml]
        devices:
          inv: {{template: sf-inverter, transport: modbus-tcp, address: "{HOST}:{port}", unit: 1,
                 timeout: 0.4, retries: 2}}
        """))  # fmt: skip
    yield device, site

    async def close() -> None:
        server.close()
        await server.wait_closed()

    lt.run(close())
    lt.stop()


def write(run, site: Path, point: str, value: str):
    return run("--json", "--site", str(site), "write", "inv", point, value, "--yes")


def test_bounds_hold_on_the_value_the_device_will_store_through_its_scale_factor(run, peer):
    device, site = peer
    device.registers[1] = 1  # factor 1: the device stores tens of percent
    result = write(run, site, "limit", "95")  # would be stored as 10 x 10 = 100 % > max 95
    assert result.exit_code == 5, result.output
    out = json.loads(result.stdout)["outcome"]
    assert out["status"] == "refused" and out["cause"] == "bounds"
    assert "cannot be held exactly" in out["message"] and "nearest: 90" in out["message"]
    assert "100" not in out["message"].split("nearest:")[1]  # 100 is out of bounds: not offered
    assert device.write_frames == 0
    result = write(run, site, "limit", "90")
    assert result.exit_code == 0, result.output
    assert device.registers[0] == 9 and device.write_frames == 1


def test_same_value_is_judged_at_the_device_resolution(run, peer):
    device, site = peer
    result = write(run, site, "limit", "50.4")  # 0.4 apart at a resolution of 0.1: a change
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"]["status"] == "written"
    assert device.registers[0] == 504
    result = write(run, site, "limit", "50.4")
    assert json.loads(result.stdout)["outcome"]["status"] == "unchanged"
    assert device.write_frames == 1
    # float32 0.0 and 0.1 are different values
    assert json.loads(write(run, site, "level", "0.1").stdout)["outcome"]["status"] == "written"
    assert json.loads(write(run, site, "level", "0").stdout)["outcome"]["status"] == "written"


def test_a_lost_reply_is_unknown_sent_once_and_rollback_resolves_it(run, peer):
    device, site = peer
    device.drop_write_replies = 1
    result = write(run, site, "limit", "60")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["outcome"]["status"] == "unknown", data
    assert device.write_frames == 1, "a write whose answer was lost must not be sent again"
    assert device.registers[0] == 600  # the device did apply it
    log = json.loads(run("--json", "log", "--run", data["run"]).stdout)
    assert [e["kind"] for e in log["entries"]] == ["intent", "unknown"]
    undone = run("--json", "--site", str(site), "rollback", "--last", "--yes")
    assert undone.exit_code == 0, undone.output
    assert [o["status"] for o in json.loads(undone.stdout)["outcomes"]] == ["written"]
    assert device.registers[0] == 500


def test_read_hides_scale_factor_helpers_unless_all(run, peer):
    _device, site = peer
    data = json.loads(run("--json", "--site", str(site), "read", "inv").stdout)
    assert [r["point"] for r in data["readings"]] == ["limit", "level", "scaled"]
    data = json.loads(run("--json", "--site", str(site), "read", "inv", "--all").stdout)
    assert [r["point"] for r in data["readings"]] == [
        "limit", "limit_sf", "level", "scaled", "scaled_sf"
    ]  # fmt: skip


def test_a_scale_factor_and_a_template_scale_together_keep_the_bounds(run, peer):
    device, site = peer
    result = write(run, site, "scaled", "5.5")  # 55 steps of 0.1 x 10^0: register 55, not 60
    assert result.exit_code == 0, result.output
    assert device.registers[4] == 55
    result = write(run, site, "scaled", "5.6")
    assert result.exit_code == 5 and device.registers[4] == 55


def test_a_value_too_large_for_the_register_is_refused_not_unknown(run, peer):
    device, site = peer
    device.registers[1] = 0xFFFD  # factor -3: 90 % would be 90000 in a uint16
    result = write(run, site, "limit", "90")
    assert result.exit_code == 5, result.output
    data = json.loads(result.stdout)
    assert (data["outcome"]["status"], data["outcome"]["cause"]) == ("refused", "not-sent")
    assert device.write_frames == 0
    log = json.loads(run("--json", "log", "--run", data["run"]).stdout)
    assert [e["kind"] for e in log["entries"]][-1] == "refused"
    again = run("--site", str(site), "rollback", "--last", "--yes")
    assert again.exit_code == 2  # nothing was applied: nothing to roll back

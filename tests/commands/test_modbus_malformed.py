"""A device that answers with broken frames: a clear per-device error, no traceback, exit 3.

The peer is a raw asyncio TCP server on loopback speaking just enough Modbus TCP framing to
answer each request with a deliberately broken response (pymodbus's own servers cannot).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import textwrap

import pytest

from tests.rigs import LoopThread

HOST = "127.0.5.1"


def broken_body(mode: str, fc: int) -> bytes:
    if mode == "short":  # the byte count says 4, two data bytes follow
        return bytes([fc, 4, 0, 1])
    if mode == "garbage":  # a byte count that can never be satisfied
        return bytes([fc, 0xFF, 1, 2, 3])
    return bytes([fc ^ 0x01, 2, 0, 1])  # an answer to another function


def handler(mode: str):
    """Return a raw Modbus TCP connection handler that answers every request broken this way."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                tid, _pid, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                body = broken_body(mode, pdu[0])
                writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return handle


@pytest.fixture(params=["short", "garbage", "wrong-function"])
def broken_device(request, tmp_path):
    lt = LoopThread()
    server = lt.run(asyncio.start_server(handler(request.param), HOST, 0))
    port = server.sockets[0].getsockname()[1]
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(
            f"""\
            site: broken
            devices:
              th: {{template: acme-th200, transport: modbus-tcp, address: "{HOST}:{port}", unit: 1,
                    timeout: 0.3, retries: 0}}
            """
        )
    )
    yield site

    async def close() -> None:  # in the loop's own thread: Server.close is not thread-safe
        server.close()
        await server.wait_closed()

    lt.run(close())
    lt.stop()


def test_broken_frames_give_a_device_error_without_traceback(run, broken_device, tmp_path):
    # a real process: asyncio reports protocol errors through logging, which pytest would capture
    done = subprocess.run(
        [sys.executable, "-m", "smartbuild", "--site", str(broken_device), "--json", "read", "th", "heating_setpoint"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "SMARTBUILD_HOME": str(tmp_path / "h"), "SMARTBUILD_LOAD_PLUGINS": ""},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    reading = json.loads(done.stdout)["readings"][0]
    assert reading["value"] is None and reading["error"]
    assert "Traceback" not in done.stderr and "Fatal error" not in done.stderr, done.stderr
    result = run("--site", str(broken_device), "write", "th", "heating_setpoint", "21", "--yes")
    assert result.exit_code == 3, result.output  # unreachable: nothing was sent
    assert "th: cannot read heating_setpoint" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def broken_peers():
    """One raw peer per broken mode on the loopback; yields their host:port addresses."""
    lt = LoopThread()
    servers = []
    addresses = []
    for mode in ("short", "garbage", "wrong-function"):
        server = lt.run(asyncio.start_server(handler(mode), HOST, 0))
        servers.append(server)
        addresses.append(f"{HOST}:{server.sockets[0].getsockname()[1]}")
    yield addresses

    async def close() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()

    lt.run(close())
    lt.stop()


def test_broken_devices_never_abort_a_sweep_and_the_good_ones_are_kept(run, broken_peers):
    from smartbuild.sim.peers.modbus_farm import ServerSpec
    from tests.transports.modbus.test_devices import ThreadedFarm, acme_th200

    farm = ThreadedFarm()
    try:
        good = farm.add(ServerSpec("127.0.5.2", [acme_th200(1)], port=0))
        targets = [arg for address in [*broken_peers, good] for arg in ("--modbus", address)]
        result = run("--json", "discover", *targets, "--units", "1", "--timeout", "0.3")
        assert result.exit_code in (0, 4), result.output  # 4 when a broken device is reported
        data = json.loads(result.stdout)
        found = {c["address"]: c["template"] for c in data["candidates"]}
        assert found.get(good) == "acme-th200", data
        assert "Traceback" not in result.stderr
    finally:
        farm.stop()

"""`discover --save` edits the site file as people wrote it, against real Modbus servers on loopback.

Comments, mode, line endings, indentation, symlinks and the YAML extras (!secret, !include, !env)
survive; the write is atomic (nothing else appears in the folder); a file the edit cannot handle
is refused with its location and left untouched.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartbuild.config.yamledit import add_devices, guess_indent
from smartbuild.config.yamlload import load_text
from smartbuild.sim.peers.modbus_farm import ServerSpec
from tests.transports.modbus.test_devices import ThreadedFarm, acme_co2, acme_th200

NET = f"127.{200 + os.getpid() % 40}.{os.getpid() % 250 + 1}"

HAND = """\
# Our building: keep this comment
site: hq
zones:
    office:                     # the open-plan office
        title: 'Office'
        tags:
            - office
devices:
    # the gateway, its address is not for everyone
    gw: {template: acme-th200, transport: modbus-tcp, address: !secret gw, unit: 9}
    env-th:
        template: acme-th200
        transport: modbus-tcp
        address: !env SB_TEST_ADDRESS
        unit: 7
    # an indented remark that belongs to the devices
profiles: !include profiles.yaml

# end of file
"""


@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "secrets.yaml").write_text("gw: '192.0.2.1:502'\n")
    (tmp_path / "profiles.yaml").write_text("[]\n")
    monkeypatch.setenv("SB_TEST_ADDRESS", "192.0.2.2:502")
    return tmp_path


def sweep(run: Any, farm: ThreadedFarm, site: Path) -> Any:
    if not hasattr(farm, "port"):
        endpoint = farm.add(ServerSpec(f"{NET}.10", [acme_th200(1), acme_co2(2)], port=0))
        farm.port = int(endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    port = farm.port  # type: ignore[attr-defined]
    return run("--site", str(site), "discover", "--modbus", f"{NET}.10", "--port", str(port),
               "--units", "1,2", "--timeout", "0.5", "--save")  # fmt: skip


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_save_keeps_comments_mode_newlines_indent_and_extras(
    run: Any, farm: ThreadedFarm, folder: Path, newline: str
) -> None:
    site = folder / "site.yaml"
    site.write_bytes(HAND.replace("\n", newline).encode())
    site.chmod(0o600)
    result = sweep(run, farm, site)
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already there" in result.stderr
    raw = site.read_bytes().decode()
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    if newline == "\r\n":
        assert raw.count("\r\n") == raw.count("\n")  # every line ends in CRLF
    else:
        assert "\r" not in raw
    lines = raw.splitlines()
    hand = HAND.splitlines()
    assert lines[:16] == hand[:16]  # everything written by hand, in place, 4-space indented
    added = lines[16:18]
    assert all(line.startswith("    acme-") for line in added), added
    assert lines[18:] == hand[16:]  # the remarks after the devices stay after them
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]  # the temp file is gone
    devices = run("--site", str(site), "--json", "devices")
    assert devices.exit_code == 0, devices.output
    again = sweep(run, farm, site)
    assert "0 added, 2 already there" in again.stderr
    assert site.read_bytes().decode() == raw


def test_save_writes_through_a_symlink(run: Any, farm: ThreadedFarm, folder: Path) -> None:
    real = folder / "real"
    real.mkdir()
    (real / "site.yaml").write_text("site: hq\ndevices: {}\n")
    link = folder / "site.yaml"
    link.symlink_to(real / "site.yaml")
    result = sweep(run, farm, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert len(yaml.safe_load((real / "site.yaml").read_text())["devices"]) == 2


def test_save_creates_a_missing_site_file(run: Any, farm: ThreadedFarm, tmp_path: Path) -> None:
    site = tmp_path / "new" / "site.yaml"
    site.parent.mkdir()
    result = sweep(run, farm, site)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(site.read_text())
    assert data["site"] == "new" and len(data["devices"]) == 2


def test_save_refuses_devices_from_an_include_and_keeps_the_file(
    run: Any, farm: ThreadedFarm, folder: Path
) -> None:
    (folder / "devices.yaml").write_text("{}\n")
    site = folder / "site.yaml"
    site.write_text("site: hq\ndevices: !include devices.yaml\n")
    before = site.read_bytes()
    result = sweep(run, farm, site)
    assert result.exit_code == 2, result.output
    assert f"{site}:2:10: devices: 'devices' is not a mapping written in this file" in result.stderr
    assert site.read_bytes() == before


def test_save_refuses_a_site_the_loader_refuses(run: Any, farm: ThreadedFarm, folder: Path) -> None:
    site = folder / "site.yaml"
    site.write_text("site: hq\ndevices: {}\nzones: !include ../elsewhere.yaml\n")
    before = site.read_bytes()
    result = sweep(run, farm, site)
    assert result.exit_code == 2, result.output
    assert f"{site}:3:8: !include '../elsewhere.yaml' leads outside" in result.stderr
    assert site.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  b: 1\n", (2, 2, 0)),
        ("a:\n    b: 1\nl:\n    - x\n", (4, 6, 4)),
        ("a:\n  b: 1\nl:\n- x\n", (2, 2, 0)),
        ("a:\n   b: 1\nl:\n  - x\n", (3, 4, 2)),
        ("a: {b: 1}\n", (2, 2, 0)),
        ("a:   # remark\n    b: 1\n", (4, 4, 2)),
    ],
)
def test_guess_indent(text: str, expected: tuple[int, int, int]) -> None:
    assert guess_indent(text) == expected


def test_add_devices_quotes_device_text_and_keeps_anchors() -> None:
    text = "base: &b {transport: modbus-tcp}\ndevices:\n  a: {<<: *b, template: t, address: x}\n"
    out = add_devices(text, {"n": {"title": "evil: [/red]\x1b[2J", "unit": 3}}, "site.yaml")
    assert out.startswith(text)
    assert load_text(out, "site.yaml").data["devices"]["n"] == {
        "title": "evil: [/red]\x1b[2J", "unit": 3,
    }  # fmt: skip


def test_the_example_site_keeps_every_line_when_devices_are_added() -> None:
    from tests.conftest import EXAMPLES

    text = (EXAMPLES / "site.yaml").read_text()
    out = add_devices(text, {"n": {"template": "acme-th200", "unit": 1}}, "site.yaml")
    added = [line for line in out.splitlines() if line not in text.splitlines()]
    assert added == ['  n: {template: "acme-th200", unit: 1}']
    assert [line for line in out.splitlines() if line not in added] == text.splitlines()

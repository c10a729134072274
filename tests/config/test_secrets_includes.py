"""`!secret` is a type shown as *** everywhere; `!include` stays in the site's tree; aliases are bounded.

Through the CLI against a real Modbus peer (a secret address is revealed only to the transport),
plus unit tests of the Secret type and the loader.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.config.secret import MASK, Secret, reveal, reveal_text
from smartbuild.config.yamlload import MAX_EXPANDED, load_document, load_text
from smartbuild.console import dumps
from smartbuild.errors import ConfigError
from tests.transports.modbus.test_devices import ThreadedFarm, acme_th200

NET = f"127.{100 + os.getpid() % 40}.{os.getpid() % 250 + 1}"

# 324 bytes: nine levels of nine aliases, 9^9 strings once expanded.
ALIAS_BOMB = "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9) if prev else ','.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(str(p) for p in exc.value.problems)


# -- the Secret type ------------------------------------------------------------------------------
def test_a_secret_renders_as_the_mask_everywhere_but_reveal() -> None:
    secret = Secret("hunter2", "gw_password")
    assert (str(secret), repr(secret), f"{secret}", f"{secret:>5}", "%s" % secret) == (  # noqa: UP031
        MASK, MASK, MASK, "  ***", MASK,
    )  # fmt: skip
    assert "hunter2" not in repr({"password": secret}) + repr([secret])
    assert json.loads(dumps({"a": [secret], "b": secret})) == {"a": [MASK], "b": MASK}
    assert reveal(secret) == "hunter2" and reveal(5) == 5 and reveal_text(Secret(7)) == "7"
    assert secret == Secret("hunter2") and secret != "hunter2" and len({secret, Secret("x")}) == 2
    with pytest.raises(TypeError):
        "" + secret  # type: ignore[operator]  # no silent text: concatenation fails
    with pytest.raises(TypeError):
        ", ".join([secret])  # type: ignore[list-item]


def test_models_keep_secrets_and_serialise_the_mask(tmp_path: Path) -> None:
    from smartbuild.config.schema import DeviceSpec

    spec = DeviceSpec(template="t", transport="modbus-tcp", address=Secret("10.0.0.1:502"))
    assert isinstance(spec.address, Secret)
    assert spec.model_dump(mode="json")["address"] == MASK
    assert "10.0.0.1" not in repr(spec) + spec.model_dump_json()


def test_secret_tag_gives_a_secret_and_refuses_structures(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "pw: hunter2\npin: 1234\nmany: [1, 2]\n")
    doc = load_text("a: !secret pw\nb: !secret pin\n", str(tmp_path / "site.yaml"))
    assert isinstance(doc.data["a"], Secret) and doc.data["a"].reveal() == "hunter2"
    assert doc.data["b"].reveal() == 1234 and doc.is_secret(("b",))
    with pytest.raises(ConfigError) as exc:
        load_text("x: 1\nc: !secret many\n", str(tmp_path / "site.yaml"))
    assert "site.yaml:2:4:" in problems(exc) and "single text or number" in problems(exc)


# -- !include -------------------------------------------------------------------------------------
def test_include_inside_the_tree_works_with_dot_dot_that_stays_inside(tmp_path: Path) -> None:
    write(tmp_path / "site" / "zones.yaml", "office: {}\n")
    write(tmp_path / "site" / "sub" / "devices.yaml", "z: !include ../zones.yaml\n")
    doc = load_document(write(tmp_path / "site" / "site.yaml", "d: !include sub/devices.yaml\n"))
    assert doc.data == {"d": {"z": {"office": {}}}}


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("/etc/passwd", "not an absolute one"),
        ("../outside.yaml", "leads outside the site's folder"),
        ("sub/../../outside.yaml", "leads outside the site's folder"),
        ("link.yaml", "leads outside the site's folder"),  # a symlink out of the tree
        ("~/outside.yaml", "not an absolute one"),
        ("secrets.yaml", "secrets.yaml is read only through !secret name"),
        ("hidden.yaml", "secrets.yaml is read only through !secret name"),  # a symlink to it
    ],
)
def test_include_cannot_leave_the_site_folder(
    run: Any, tmp_path: Path, target: str, needle: str
) -> None:
    write(tmp_path / "outside.yaml", "office: {}\n")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (tmp_path / "site" / "secrets.yaml").write_text("pw: s3cr3t-value\n")
    (tmp_path / "site" / "hidden.yaml").symlink_to(tmp_path / "site" / "secrets.yaml")
    site = write(tmp_path / "site" / "site.yaml", f"site: x\nzones: !include {target}\n")
    result = run("validate", str(site))
    assert result.exit_code == 2, result.output
    assert f"{site}:2:8: " in result.stderr and needle in result.stderr
    assert "Traceback" not in result.output and "s3cr3t" not in result.output


def test_an_included_file_cannot_escape_either(run: Any, tmp_path: Path) -> None:
    write(tmp_path / "outside.yaml", "office: {}\n")
    inner = write(tmp_path / "site" / "zones" / "all.yaml", "office: !include ../../outside.yaml\n")
    site = write(tmp_path / "site" / "site.yaml", "site: x\nzones: !include zones/all.yaml\n")
    result = run("validate", str(site))
    assert result.exit_code == 2
    assert f"{inner}:1:9: " in result.stderr and "leads outside" in result.stderr


# -- aliases ---------------------------------------------------------------------------------------
def test_an_alias_bomb_is_refused_quickly_with_a_location(run: Any, tmp_path: Path) -> None:
    assert len(ALIAS_BOMB) < 350
    bomb = write(tmp_path / "site.yaml", ALIAS_BOMB)
    started = time.perf_counter()
    result = run("validate", str(bomb))
    assert result.exit_code == 2, result.output
    assert time.perf_counter() - started < 5  # a guard against hanging only; see benchmarks/
    assert f"{bomb}:6:4: " in result.stderr and "alias bomb" in result.stderr


def test_recursive_and_deep_documents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_text("a: 1\nb: &b [1, *b]\n", "f.yaml")
    assert "f.yaml:2:4:" in problems(exc) and "recursive alias" in problems(exc)
    with pytest.raises(ConfigError) as exc:
        load_text("a: " + "[" * 150 + "]" * 150 + "\n", "f.yaml")
    assert "f.yaml:1:" in problems(exc) and "nested deeper" in problems(exc)


def test_ordinary_anchors_and_merges_still_work() -> None:
    text = "base: &b {timeout: 2, retries: 1}\nd1: {<<: *b, unit: 1}\nd2: *b\n"
    doc = load_text(text, "f.yaml")
    assert doc.data["d1"] == {"timeout": 2, "retries": 1, "unit": 1}
    many = "x: &x [1, 2, 3]\n" + "".join(f"k{i}: *x\n" for i in range(MAX_EXPANDED // 10))
    assert len(load_text(many, "f.yaml").data) == MAX_EXPANDED // 10 + 1


# -- a secret address through the CLI, against a real peer ------------------------------------------
@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


@pytest.fixture
def secret_site(tmp_path: Path, farm: ThreadedFarm) -> tuple[Path, str]:
    from smartbuild.sim.peers.modbus_farm import ServerSpec

    endpoint = farm.add(ServerSpec(f"{NET}.7", [acme_th200(1)], port=0))
    write(tmp_path / "secrets.yaml", f"th_address: '{endpoint}'\n")
    site = write(
        tmp_path / "site.yaml",
        """\
        site: x
        zones: {office: {tags: [office]}}
        devices:
          th: {template: acme-th200, transport: modbus-tcp, address: !secret th_address, unit: 1, zone: office}
        """,
    )
    return site, endpoint


def test_a_secret_address_is_used_by_the_transport_and_shown_nowhere(
    run: Any, secret_site: tuple[Path, str]
) -> None:
    site, endpoint = secret_site
    host = endpoint.rsplit(":", 1)[0]
    outputs = []
    for args in (
        ("validate", str(site)),
        ("devices",),
        ("--json", "devices"),
        ("-vv", "--json", "read", "th"),
        ("write", "th", "heating_setpoint", "22", "--yes"),
        ("--json", "log", "--last"),
        ("log", "--jsonl", "--since", "1h"),
        ("--json", "profile", "plan", "office-en16798-cat2", "--at", "2026-01-05 09:00"),
    ):
        result = run("--site", str(site), *args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    everything = "\n".join(outputs)
    assert host not in everything and endpoint not in everything
    assert "***" in outputs[1] and json.loads(outputs[2])["devices"][0]["address"] == "***"
    readings = {r["point"]: r["value"] for r in json.loads(outputs[3])["readings"]}
    assert readings["room_temperature"] == 21.5  # the transport did reach the device
    journal = (Path(os.environ["SMARTBUILD_HOME"]) / "journal.db").read_bytes()
    assert host.encode() not in journal


def test_a_secret_host_that_does_not_answer_stays_hidden(run: Any, tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", f"gw: '{NET}.99:1'\n")
    site = write(
        tmp_path / "site.yaml",
        "site: x\ndevices:\n  th: {template: acme-th200, transport: modbus-tcp, "
        "address: !secret gw, unit: 1, timeout: 0.2, retries: 0}\n",
    )
    result = run("--site", str(site), "-vv", "--traceback", "read", "th")
    assert result.exit_code == 3, result.output
    assert "cannot connect to ***" in result.output and f"{NET}.99" not in result.output


def test_secrets_where_no_secret_belongs_are_refused_without_the_value(
    run: Any, tmp_path: Path
) -> None:
    write(tmp_path / "secrets.yaml", "t: s3cr3t-title\nsp: '21'\nbad: 'x:99999'\n")
    site = write(
        tmp_path / "site.yaml",
        """\
        site: x
        devices:
          d1: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:5020", title: !secret t}
          d2: {template: acme-th200, transport: modbus-tcp, address: !secret bad}
        """,
    )
    result = run("validate", str(site))
    assert result.exit_code == 2
    assert f"{site}:3:87: devices.d1.title: a !secret value cannot be used here" in result.stderr
    site.write_text(site.read_text().replace(", title: !secret t", ""))
    result = run("validate", str(site))
    assert result.exit_code == 2
    assert f"{site}:4:62: devices.d2.address: invalid port in ***;" in result.stderr
    assert "99999" not in result.output
    profile = write(
        tmp_path / "p.yaml",
        """\
        profile: p
        modes: {on: {heating_setpoint: !secret sp}}
        schedule: {default: on}
        """,
    )
    result = run("--json", "validate", str(profile))
    assert result.exit_code == 2
    assert "p.yaml:2:32: modes.on.heating_setpoint" in result.stdout
    assert "s3cr3t" not in result.output and "'21'" not in result.output


def test_the_secrets_file_is_never_read_as_a_site_template_or_profile(
    run: Any, tmp_path: Path
) -> None:
    secrets = write(tmp_path / "secrets.yaml", "site: s3cr3t-value\npw: s3cr3t-value\n")
    site = write(tmp_path / "site.yaml", "site: x\ntemplates: [secrets.yaml]\n")
    for args in (
        ("validate", str(secrets)),
        ("--site", str(secrets), "devices"),
        ("--site", str(site), "devices"),
        ("profile", "validate", str(secrets)),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "secrets.yaml is read only through `!secret name`" in result.stderr, args
        assert "s3cr3t" not in result.output

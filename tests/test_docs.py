"""Every command example in README.md and docs/*.md runs as written against the simulator.

Fenced ``sh`` and ``text`` blocks hold examples. Each line that runs smartbuild runs in-process, in
the order of its file, against one simulator started for this module, and must exit 0. ``export
NAME=value`` lines and ``NAME=value`` prefixes set the environment; a trailing ``> file`` is dropped.
The simulator's own addresses replace the ones the docs show for it: 127.0.2.x becomes its free
/24, any ``…sim-site.yaml`` its site file, a ``unix:path=…`` D-Bus address its bus. A line the
docs mark with ``<!-- docs-test: not run "PREFIX": reason -->`` is listed instead of run.

Untagged blocks are synopses (``[--port 502]``, ``DEVICE``): every option they name must be an
option of that command or a global one.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from smartbuild.cli import GLOBAL_FLAGS, GLOBAL_WITH_VALUE, cli
from smartbuild.sim.launch import SimProcess, free_base
from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r'<!-- docs-test: not run "(?P<prefix>[^"]+)": (?P<reason>.+?) -->')
MAX_NOT_RUN = 3  # examples that cannot run here stay few, and each says why


@dataclass
class Example:
    """One documented smartbuild command line."""

    doc: str
    line: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def _lines(body: str) -> Iterator[str]:
    """Yield the logical lines of a block (backslash continuations joined)."""
    pending = ""
    for raw in body.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        yield (pending + raw).strip()
        pending = ""


def not_run(text: str) -> dict[str, str]:
    """Return the doc's not-run markers: {line prefix: reason}."""
    return {m["prefix"]: m["reason"] for m in NOT_RUN.finditer(text)}


def examples(path: Path, substitute: Any = lambda line: line) -> Iterator[Example | str]:
    """Yield the runnable examples of a doc in order, and ``export`` lines as plain strings."""
    text = path.read_text()
    skipped = not_run(text)
    for block in BLOCK.finditer(text):
        if block["lang"] not in ("sh", "text"):
            continue
        for line in _lines(block["body"]):
            if not line or any(line.startswith(prefix) for prefix in skipped):
                continue
            tokens = shlex.split(substitute(line), comments=True)
            if tokens[:1] == ["export"]:
                yield " ".join(tokens[1:])
                continue
            env = {}
            while tokens and re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0]):
                name, _, value = tokens.pop(0).partition("=")
                env[name] = value
            if tokens[:1] != ["smartbuild"]:
                continue  # the set-up and benchmark lines: tests/test_readme.py checks those
            args = tokens[1 : tokens.index(">")] if ">" in tokens else tokens[1:]
            yield Example(path.name, line, args, env)


def test_every_doc_example_is_run_or_marked_with_a_reason() -> None:
    marked = {}
    for path in DOCS:
        for prefix, reason in not_run(path.read_text()).items():
            marked[f"{path.name}: {prefix}"] = reason
            assert reason.strip(), prefix
    assert len(marked) <= MAX_NOT_RUN, marked
    counted = sum(isinstance(e, Example) for path in DOCS for e in examples(path))
    assert counted >= 25, counted


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed: the documented BLE examples need it")
    root = tmp_path_factory.mktemp("docs-sim")
    process = SimProcess(root / "home", zones=3, speed=60, base=free_base(),
                         site_out=root / "sim-site.yaml")  # fmt: skip
    process.start()
    yield process
    report = process.stop()
    assert report == {"exit_status": 0, "leftovers": []}


def _substitution(sim: SimProcess) -> Any:
    net = sim.state["modbus"]["gateway"].rsplit(".", 1)[0]
    site = str(sim.state["site_file"])
    bus = sim.state["ble"]["bus_address"]

    def substitute(line: str) -> str:
        line = re.sub(r"[^\s=]*sim-site\.yaml", site, line)
        line = re.sub(r"unix:path=\S+", bus, line)
        return line.replace("127.0.2.", f"{net}.")

    return substitute


@pytest.mark.parametrize("doc", [p for p in DOCS if any(examples(p))], ids=lambda p: p.name)
def test_doc_examples_run_as_written(
    run: Any, sim: SimProcess, doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # examples name repository files (examples/site.yaml)
    env = {
        "SMARTBUILD_HOME": str(tmp_path / "home"),
        "DBUS_SYSTEM_BUS_ADDRESS": sim.state["ble"]["bus_address"],
    }
    for example in examples(doc, _substitution(sim)):
        if isinstance(example, str):
            name, _, value = example.partition("=")
            env[name] = value
            continue
        result = run(*example.args, env={**env, **example.env})
        problems = [
            line for line in result.output.splitlines() if "fail" in line or "error" in line
        ]
        assert result.exit_code == 0, (example.doc, example.line, problems, result.output)


def _command_options(words: list[str]) -> tuple[click.Command, list[str], set[str]]:
    """Return the command the words name, the words after it and its options (dynamic ones too)."""
    command: click.Command = cli
    with click.Context(cli) as ctx:
        while words and isinstance(command, click.Group):
            sub = command.get_command(ctx, words[0])
            if sub is None:
                break
            command, words = sub, words[1:]
        known = set(GLOBAL_FLAGS | GLOBAL_WITH_VALUE)
        for param in command.get_params(ctx):
            known.update(getattr(param, "opts", []), getattr(param, "secondary_opts", []))
    return command, words, known


def synopses() -> Iterator[tuple[str, str]]:
    """Yield (doc, line) for each smartbuild line of an untagged block, continuations joined."""
    for path in DOCS:
        for block in BLOCK.finditer(path.read_text()):
            if block["lang"]:
                continue
            current = ""
            for raw in block["body"].replace("\\\n", " ").splitlines():
                if raw.startswith("smartbuild "):
                    if current:
                        yield path.name, current
                    current = raw
                elif current and raw.startswith(" "):
                    current += " " + raw.strip()
            if current:
                yield path.name, current


@pytest.mark.parametrize(("doc", "line"), list(synopses()))
def test_synopses_name_only_options_their_command_has(doc: str, line: str) -> None:
    words = line.split("#", 1)[0].split()[1:]
    command, rest, known = _command_options(words)
    assert command is not cli, (doc, line)
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", " ".join(rest)))
    assert named <= known, (doc, line, sorted(named - known))

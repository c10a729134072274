"""Output environment: data to stdout, people to stderr, rich consoles built lazily."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _json_default(value: Any) -> Any:
    """Serialise the odd types smartbuild data carries (dates, paths, bytes, enums)."""
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    return str(value)


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """Return data as JSON text with smartbuild's conventions (nan and inf become null)."""
    import json

    try:
        return json.dumps(
            data, default=_json_default, ensure_ascii=False, indent=indent, allow_nan=False
        )
    except ValueError:
        # a float register may hold nan or inf; Python would print NaN/Infinity, which is not
        # JSON and breaks jq and every strict parser, so such values go out as null
        return json.dumps(_finite(data), default=_json_default, ensure_ascii=False, indent=indent)


def _finite(value: Any) -> Any:
    """Return value with every nan or infinite float replaced by None (JSON has neither)."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (str, int, type(None))):
        return value
    return _finite(_json_default(value))


class Output:
    """Where a command writes: built once per invocation, injectable in tests."""

    def __init__(
        self,
        json_mode: bool = False,
        color: bool | None = None,  # None: decide from NO_COLOR and the terminal
        verbosity: int = 0,  # -1 quiet, 0 normal, 1+ verbose
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.streamed = False
        self.color = color
        self.verbosity = verbosity
        self.stdout = stdout
        self.stderr = stderr
        self._out: Console | None = None
        self._err: Console | None = None

    def _no_color(self) -> bool:
        if self.color is not None:
            return not self.color
        return "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != ""

    @property
    def out(self) -> Console:
        """Return the rich console for data on stdout."""
        if self._out is None:
            from rich.console import Console

            self._out = Console(
                file=self.stdout or sys.stdout,
                no_color=self._no_color(),
                highlight=False,
                soft_wrap=False,
                emoji=False,  # ":fire:" in device text stays text (and rich's emoji table unloaded)
            )
        return self._out

    @property
    def err(self) -> Console:
        """Return the rich console for people on stderr."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(
                file=self.stderr or sys.stderr,
                no_color=self._no_color(),
                highlight=False,
                stderr=self.stderr is None,
                emoji=False,
            )
        return self._err

    @property
    def interactive(self) -> bool:
        """Return True when stdin and stderr are terminals (confirmation is possible)."""
        stream = self.stderr or sys.stderr
        try:
            return sys.stdin.isatty() and stream.isatty()
        except (AttributeError, ValueError):
            return False

    def emit_json(self, data: Any) -> None:
        """Print one JSON document on stdout."""
        stream = self.stdout or sys.stdout
        stream.write(dumps(data) + "\n")
        stream.flush()

    def emit_jsonl(self, rows: Iterable[Any]) -> None:
        """Print JSON Lines on stdout, flushing after each line (streams, watch)."""
        stream = self.stdout or sys.stdout
        self.streamed = True  # stdout is JSON Lines now: no other document may follow
        for row in rows:
            stream.write(dumps(row, indent=None) + "\n")
            stream.flush()

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print human output on stdout (ignored in JSON mode)."""
        if not self.json_mode:
            self.out.print(*objects, **kwargs)

    def info(self, message: str) -> None:
        """Tell a person something on stderr (hidden with -q)."""
        if self.verbosity >= 0:
            self.err.print(message)

    def debug(self, message: str) -> None:
        """Print a detail on stderr with -v."""
        if self.verbosity > 0:
            self.err.print(f"[dim]{message}[/dim]")

    def warn(self, message: str) -> None:
        """Print a warning on stderr (always, even with -q)."""
        self.err.print(
            f"[yellow]warning:[/yellow] {escape(message)}", highlight=False, soft_wrap=True
        )

    def error(self, message: str, hint: str | None = None) -> None:
        """Print an error (and what to do next) on stderr."""
        self.err.print(
            f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
        )
        if hint:
            self.err.print(f"[dim]hint:[/dim] {escape(hint)}", highlight=False, soft_wrap=True)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """Show a spinner on stderr while a block runs (only on a terminal)."""
        if self.verbosity < 0 or not self.err.is_terminal:
            yield
            return
        with self.err.status(message):
            yield


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.pop(0x09)  # a tab is harmless
_CONTROL.pop(0x0A)  # and so is a line break (multi-line messages)


def escape(text: str) -> str:
    """Return text from a device or a file safe to print: markup escaped, control bytes shown.

    An ESC sequence in a TXT record or a device name would otherwise drive the terminal, and a
    "[/red]" in it would break rich's markup; JSON output keeps the exact value.
    """
    from rich.markup import escape as _escape

    return _escape(str(text).translate(_CONTROL))

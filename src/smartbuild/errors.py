"""Domain exceptions and the exit codes they map to at the CLI edge."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ExitStatus(enum.IntEnum):
    """Process exit codes of every smartbuild command."""

    OK = 0
    ERROR = 1
    USAGE = 2  # usage error or invalid configuration
    UNREACHABLE = 3  # nothing reachable
    PARTIAL = 4  # some actions or devices failed
    REFUSED = 5  # refused for safety
    INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One located problem in a configuration file."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    path: str = ""  # dotted path inside the document, e.g. "devices.th-1.unit"

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class SmartbuildError(Exception):
    """Base of every error smartbuild reports to a person without a traceback."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(
        self, message: str, *, hint: str | None = None, exit_status: ExitStatus | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_status is not None:
            self.exit_status = exit_status

    def lines(self) -> list[str]:
        """Return the lines to print for this error (message first)."""
        return [self.message]

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready description of this error."""
        data: dict[str, object] = {
            "error": type(self).__name__,
            "message": self.message,
            "exit_status": int(self.exit_status),
        }
        if self.hint:
            data["hint"] = self.hint
        return data


class ConfigError(SmartbuildError):
    """One or more located problems in configuration files (exit 2)."""

    exit_status = ExitStatus.USAGE

    def __init__(self, problems: Sequence[Problem] | Problem, *, hint: str | None = None) -> None:
        self.problems: list[Problem] = (
            [problems]
            if isinstance(problems, Problem)
            else sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.col or 0))
        )
        first = str(self.problems[0]) if self.problems else "invalid configuration"
        super().__init__(first, hint=hint)

    def lines(self) -> list[str]:
        """Return one line per problem."""
        return [str(p) for p in self.problems]

    def to_json(self) -> dict[str, object]:
        """Return the problems as JSON-ready data."""
        data = super().to_json()
        data["problems"] = [
            {"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message}
            for p in self.problems
        ]
        return data


class UsageError(SmartbuildError):
    """A command was called with arguments that cannot work (exit 2)."""

    exit_status = ExitStatus.USAGE


class DeviceError(SmartbuildError):
    """A device could not be reached or answered with an error (exit 1)."""

    def __init__(
        self,
        device: str,
        cause: str,
        *,
        hint: str | None = None,
        exit_status: ExitStatus | None = None,
    ) -> None:
        self.device = device
        self.cause = cause
        super().__init__(f"{device}: {cause}", hint=hint, exit_status=exit_status)


class DeviceRejected(DeviceError):
    """The device answered a write with an exception: it is known not to hold the value."""


class NotSent(DeviceError):
    """A transport refused a write before sending anything (it cannot encode or address it)."""


class UnreachableError(SmartbuildError):
    """Nothing that was asked for could be reached (exit 3)."""

    exit_status = ExitStatus.UNREACHABLE


class PartialFailure(SmartbuildError):
    """Some devices or actions failed while others succeeded (exit 4)."""

    exit_status = ExitStatus.PARTIAL


class SafetyRefusal(SmartbuildError):
    """smartbuild refused to act because it would not be safe (exit 5)."""

    exit_status = ExitStatus.REFUSED


class JournalError(SmartbuildError):
    """The journal could not be opened or written (exit 1)."""


def join_problems(problems: Iterable[Problem]) -> str:
    """Return problems as one newline-separated block."""
    return "\n".join(str(p) for p in problems)

"""A journaled run: opened on entry, closed with a status on exit (also on Ctrl-C or an error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartbuild.model.events import Event, new_run_id, run_started


class Run:
    """A run of writes; every entry goes through ``record`` (journal first, then observers)."""

    def __init__(self, record: Callable[[Event], None], command: str, **details: Any) -> None:
        self.record = record
        self.id = new_run_id()
        self.command = command
        self.details = details
        self.status = "ok"
        self.kind = details.pop("kind", "run")  # run, rollback, release

    def __enter__(self) -> Run:
        self.record(run_started(self.id, self.command, kind=self.kind, **self.details))
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:
            interrupted = (
                issubclass(kind, (KeyboardInterrupt, SystemExit))
                or kind.__name__ == "CancelledError"
            )
            self.status = "interrupted" if interrupted else "error"
        self.record(Event("run-finished", self.id, data={"status": self.status}))

    def emit(
        self, kind: str, device: str | None = None, point: str | None = None, **fields: Any
    ) -> None:
        """Journal one entry of this run (committed before returning)."""
        self.record(Event(kind, self.id, device, point, **fields))

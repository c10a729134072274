"""What a run changed, what is still in force, and the requests that undo it (pure journal reads)."""

from __future__ import annotations

import time
from typing import Any

# entries after which the device may hold what the run asked for (an intent with no outcome: the
# process died mid-write). "unverified" is the name older journals gave an unconfirmed write.
WRITE_KINDS = ("intent", "written", "unknown", "reverted", "overridden", "unverified")
# outcomes after which the device is known not to hold what the run asked for
NOT_APPLIED = ("rejected", "refused", "unchanged", "conflict", "failed", "skipped", "blocked")
UNDO_KINDS = ("rollback", "release")


def restorable(journal: Any, run_id: str) -> list[dict[str, Any]]:
    """Return per (device, point): the value before the run and the last value it asked for.

    ``state`` is the kind of the last entry: ``intent`` means interrupted mid-write, ``unknown``
    sent without an answer; rollback reads the device to find out which value it holds.
    """
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in journal.entries(run=run_id, kinds=(*WRITE_KINDS, *NOT_APPLIED)):
        if {"before", "requested"} & set(entry.get("damaged", ())):
            continue  # a value that no longer decodes is never guessed nor written back
        key = (entry["device"], entry["point"])
        if entry["kind"] in NOT_APPLIED:
            if key in changes and entry["kind"] != "unchanged":
                changes[key]["state"] = entry["kind"]  # the intent came to nothing
            continue
        item = changes.setdefault(
            key, {"device": key[0], "point": key[1], "before": entry["before"]}
        )
        item["requested"] = entry["requested"]
        item["state"] = entry["kind"]
    return [item for item in changes.values() if item["state"] in WRITE_KINDS]


def is_undo(run: dict[str, Any]) -> bool:
    """Return True for a rollback or override release run."""
    return run.get("kind") in UNDO_KINDS


def rolled_back(journal: Any) -> set[str]:
    """Return the ids of runs that a successful rollback or release has undone."""
    return {
        run["parent_run"]
        for run in journal.runs()
        if is_undo(run) and run["status"] == "ok" and run["parent_run"]
    }


def last_undoable(journal: Any) -> str | None:
    """Return the newest run that wrote something and is not itself a rollback."""
    return next(
        (r["id"] for r in journal.runs() if not is_undo(r) and restorable(journal, r["id"])),
        None,
    )


def active_overrides(journal: Any, now: float | None = None) -> list[dict[str, Any]]:
    """Return runs applied with --for that still hold: not expired, not undone, not dry runs."""
    undone = rolled_back(journal)
    now = time.time() if now is None else now
    result = []
    for run in journal.runs():
        if (
            run["expires"]
            and run["expires"] > now
            and run["id"] not in undone
            and not run["dry_run"]
        ):
            items = [i for i in restorable(journal, run["id"]) if i["state"] != "intent"]
            if items:  # a run that changed nothing overrides nothing
                result.append({**run, "changes": items, "remaining_s": round(run["expires"] - now)})
    return result


def expired_overrides(journal: Any, now: float | None = None) -> list[dict[str, Any]]:
    """Return override runs whose expiry has passed and that nothing has released yet."""
    undone = rolled_back(journal)
    now = time.time() if now is None else now
    return [
        run
        for run in journal.runs()
        if run["expires"]
        and run["expires"] <= now
        and run["id"] not in undone
        and not run["dry_run"]
        and restorable(journal, run["id"])
    ]

"""Find and load routines: the site's `routines:` list and the `routines/` folder beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from smartbuild.config.yamlload import Document, PathKey
from smartbuild.errors import ConfigError, Problem, UsageError
from smartbuild.routines.schema import Routine

FOLDER = "routines"


@dataclass(frozen=True)
class LoadedRoutine:
    """A validated routine, the document it came from and where inside it."""

    routine: Routine
    doc: Document
    at: PathKey  # () for a routine file, ("routines", i) inside the site file

    @property
    def origin(self) -> str:
        """Return where the routine is defined: file[:line]."""
        loc = self.doc.locate(self.at)
        return f"{loc.file}:{loc.line}" if loc and self.at else self.doc.file

    def problem(self, path: PathKey, message: str) -> Problem:
        """Return a problem located at path inside this routine."""
        return self.doc.problem((*self.at, *path), message)


class _SiteRoutines(BaseModel):
    """The `routines:` key of a site file (the site schema checks everything else)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    routines: tuple[Routine, ...] = ()


def load_routine_file(path: str | Path) -> LoadedRoutine:
    """Load and validate one routine file with file:line:col errors."""
    from smartbuild.config.locate import load_model

    routine, doc = load_model(Routine, str(path))
    return LoadedRoutine(routine, doc, ())


def routine_files(site_path: Path) -> list[Path]:
    """Return the routine files in the `routines/` folder beside the site file."""
    folder = site_path.parent / FOLDER
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def load_routines(site_doc: Document | None, files: Sequence[Path]) -> list[LoadedRoutine]:
    """Validate the site's routines and the routine files; report every problem at once."""
    from smartbuild.config.locate import validate_document

    loaded: list[LoadedRoutine] = []
    problems: list[Problem] = []
    if site_doc is not None and isinstance(site_doc.data, dict) and site_doc.data.get("routines"):
        try:
            inline = validate_document(_SiteRoutines, site_doc)
        except ConfigError as error:
            problems += error.problems
        else:
            loaded += [LoadedRoutine(r, site_doc, ("routines", i))
                       for i, r in enumerate(inline.routines)]  # fmt: skip
    for path in files:
        try:
            loaded.append(load_routine_file(path))
        except ConfigError as error:
            problems += error.problems
    seen: dict[str, LoadedRoutine] = {}
    for item in loaded:
        name = item.routine.routine
        if name in seen:
            problems.append(item.problem(("routine",), f"a second routine named {name!r} "
                                         f"(the first is at {seen[name].origin})"))  # fmt: skip
        else:
            seen[name] = item
    if problems:
        raise ConfigError(problems)
    return loaded


def find(routines: Sequence[LoadedRoutine], name: str) -> LoadedRoutine:
    """Return the routine of that name, or raise a usage error with a suggestion."""
    from smartbuild.suggest import did_you_mean

    for item in routines:
        if item.routine.routine == name:
            return item
    names = [r.routine.routine for r in routines]
    raise UsageError(f"no routine named {name!r}.{did_you_mean(name, names)}",
                     hint="`smartbuild routine list` shows the routines of the site")  # fmt: skip


def summary(item: LoadedRoutine) -> dict[str, Any]:
    """Return a routine's summary with where it is defined."""
    return {**item.routine.summary(), "origin": item.origin}

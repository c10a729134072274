"""`smartbuild validate`: check site files, device templates and profiles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.errors import ConfigError, ExitStatus, Problem, UsageError


def _validate_site(path: Path, app: App) -> list[str]:
    from smartbuild.config.site import load_site

    loaded = load_site(path, app.registry)
    return [
        f"site {loaded.site.site!r}: {len(loaded.site.zones)} zones, {len(loaded.site.devices)} devices"
    ]


def _validate_template(path: Path, app: App) -> list[str]:
    from smartbuild.config.templates import load_template

    template = load_template(path, app.registry.schemas())
    return [f"template {template.template!r}: {len(template.points)} points"]


def _validate_profile(path: Path, app: App) -> list[str]:
    from smartbuild.profiles.loading import load_profile

    profile = load_profile(path)
    return [f"profile {profile.profile!r}"]


def _validate_routine(path: Path, app: App) -> list[str]:
    from smartbuild.routines.loading import load_routine_file

    routine = load_routine_file(path).routine
    return [f"routine {routine.routine!r}: {len(routine.triggers)} triggers, "
            f"{len(routine.steps)} steps"]  # fmt: skip


KINDS: dict[str, Callable[[Path, App], list[str]]] = {
    "site": _validate_site,
    "template": _validate_template,
    "profile": _validate_profile,
    "routine": _validate_routine,
}


def detect_kind(path: Path) -> str:
    """Return which file format a YAML file is, from its top-level key."""
    from smartbuild.config.yamlload import load_document

    doc = load_document(path)
    if doc.data is None:
        raise ConfigError(Problem("the file is empty", file=str(path), line=1, col=1))
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.problem((), "expected a mapping of keys to values at the top level"))
    if isinstance(doc.data, dict):
        for kind in KINDS:
            if kind in doc.data:
                return kind
    raise ConfigError(
        doc.problem(
            (),
            "cannot tell what this file is: expected a top-level 'site:', 'template:', 'routine:' or "
            "'profile:' key",
        )
    )


def validate_files(paths: list[Path], app: App) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Validate each file; return per-file results and every problem found."""
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            kind = detect_kind(path)
            summary = KINDS[kind](path, app)
            results.append({"file": str(path), "kind": kind, "ok": True, "summary": summary})
        except ConfigError as error:
            problems.extend(error.problems)
            results.append(
                {"file": str(path), "ok": False, "problems": [str(p) for p in error.problems]}
            )
    return results, problems


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check site files, device templates and profiles.

    With no FILES the site is checked (--site, SMARTBUILD_SITE, else ./site.yaml).
    """
    app = get_app()
    if not files and not app.site_path.exists():
        raise UsageError(
            f"no FILES named and no site file {str(app.site_path)!r}",
            hint="name the files to check, or the site with --site / SMARTBUILD_SITE",
        )
    results, problems = validate_files(list(files) or [app.site_path], app)
    out = app.output
    if out.json_mode:
        out.emit_json({"ok": not problems, "files": results})
    else:
        for result in results:
            if result["ok"]:
                out.print(f"[green]ok[/green] {result['file']}: {'; '.join(result['summary'])}")
        for problem in problems:
            out.error(str(problem))
        if problems:
            out.err.print(
                f"{len(problems)} problem(s) in {sum(not r['ok'] for r in results)} file(s)"
            )
    if problems:
        click.get_current_context().exit(int(ExitStatus.USAGE))

"""`smartbuild profile`: validate, plan and apply energy and comfort profiles."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.complete import complete_zone
from smartbuild.errors import ExitStatus, UsageError


def _site_profile_dirs(app: App) -> list[Path]:
    return app.session.profile_dirs()


def _origin(path: str | None) -> str:
    """Return "shipped" for a profile shipped with smartbuild, else its file."""
    from smartbuild.profiles.loading import LIBRARY

    if path and Path(path).resolve().parent == LIBRARY.resolve():
        return "shipped"
    return str(path)


@click.group()
def profile() -> None:
    """Validate, plan and apply energy and comfort profiles."""


@profile.command("list")
def list_profiles() -> None:
    """List the shipped and site-local profiles."""
    from smartbuild.profiles.loading import load_profile, shipped_profiles

    app = get_app()
    rows: list[dict[str, Any]] = []
    sources = [("shipped", p) for p in shipped_profiles()]
    for directory in _site_profile_dirs(app):
        sources += [("site", p) for p in sorted(directory.glob("*.y*ml"))]
    for origin, path in sources:
        prof = load_profile(path)
        rows.append({"name": path.stem, "profile": prof.profile, "title": prof.title,
                     "origin": origin, "file": str(path), "roles": sorted(prof.roles())})  # fmt: skip
    if app.output.json_mode:
        app.output.emit_json({"profiles": rows})
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} profiles", title_justify="left")
    for column in ("name", "title", "origin", "roles"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["title"] or "", r["origin"], ", ".join(r["roles"]))
    app.output.print(table)


@profile.command("validate")
@click.argument("files", nargs=-1, required=True)
def validate_profiles(files: tuple[str, ...]) -> None:
    """Check profile files (or shipped profiles by name)."""
    from smartbuild.commands.validate import validate_files
    from smartbuild.profiles.loading import resolve_profile

    app = get_app()
    paths = [resolve_profile(f, _site_profile_dirs(app)) for f in files]
    results, problems = validate_files(paths, app)
    if app.output.json_mode:
        app.output.emit_json({"ok": not problems, "files": results})
    else:
        for r in results:
            if r["ok"]:
                app.output.print(f"[green]ok[/green] {r['file']}: {'; '.join(r['summary'])}")
        for problem in problems:
            app.output.error(str(problem))
    if problems:
        click.get_current_context().exit(int(ExitStatus.USAGE))


@profile.command("plan")
@click.argument("profile_ref", metavar="PROFILE")
@click.option(
    "--at", help='Plan for this moment, e.g. "2026-12-01 08:00" (site time); default now.'
)
@click.option(
    "--zone",
    "zones",
    multiple=True,
    shell_complete=complete_zone,
    help="Only these zones (ids or globs).",
)
def plan(profile_ref: str, at: str | None, zones: tuple[str, ...]) -> None:
    """Preview what a profile would change: reads current values, writes nothing."""
    from smartbuild.commands.plan_view import show_plan
    from smartbuild.services.plans import plan_json

    app = get_app()
    live = app.run(lambda session: session.plan(profile_ref, at, zones))
    assert live.profile is not None
    if app.output.json_mode:
        app.output.emit_json(plan_json(live))
    else:
        show_plan(app, live, f"plan of {live.profile.profile} ({_origin(live.path)})")
    if live.points_read and len(live.read_errors) == live.points_read:
        click.get_current_context().exit(int(ExitStatus.UNREACHABLE))


@profile.command("apply")
@click.argument("profile_ref", metavar="PROFILE")
@click.option("--at", help="Apply the targets of this moment instead of now (site time).")
@click.option(
    "--zone",
    "zones",
    multiple=True,
    shell_complete=complete_zone,
    help="Only these zones (ids or globs).",
)
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed without a terminal).")
@click.option(
    "--wait",
    type=FiniteFloat(0, 3600),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run's write lease on a device before refusing (exit 5).",
)
@click.option("--dry-run", is_flag=True, help="Plan and journal the run, write nothing.")
@click.option(
    "--for",
    "for_",
    metavar="DURATION",
    help="Record the changes as an override that expires, e.g. 2h.",
)
@click.option(
    "--pace",
    type=FiniteFloat(0, 60),
    default=0.05,
    show_default=True,
    help="Seconds between writes to one device.",
)
def apply(profile_ref: str, at: str | None, zones: tuple[str, ...], yes: bool, wait: float,
          dry_run: bool, for_: str | None, pace: float) -> None:  # fmt: skip
    """Apply a profile: plan, confirm, write, read back, journal (exit 0, 3 or 4)."""
    from smartbuild.commands.plan_view import show_plan
    from smartbuild.model.writes import WriteStatus
    from smartbuild.services.plans import plan_json
    from smartbuild.timeparse import parse_duration

    app = get_app()
    app.session.lease_wait_s = wait
    out = app.output
    expires = None
    if for_:
        seconds = parse_duration(for_)
        if seconds <= 0:
            raise UsageError(
                f"--for {for_}: an override must last longer than 0 s", hint="e.g. --for 2h"
            )
        expires = time.time() + seconds

    async def go(session: Any) -> Any:
        live = await session.plan(profile_ref, at, zones)
        if not out.json_mode:
            show_plan(app, live, f"apply {live.profile.profile} ({_origin(live.path)})")
        if not live.plan.changes():
            out.info("nothing to change")
        return await session.apply(live, confirm=app.confirm(yes), dry_run=dry_run,
                                   expires=expires, pace_s=pace)  # fmt: skip

    result = app.run(go)
    outcomes = result.outcomes
    counts = {str(k): sum(o.status == k for o in outcomes) for k in WriteStatus}
    plan = plan_json(result.plan)
    plan_counts = plan["counts"]
    counts["skipped"] = plan_counts.get("skip-unchanged", 0) + plan_counts.get("skip-deadband", 0)
    counts["blocked"] = plan_counts.get("blocked", 0)
    if out.json_mode:
        out.emit_json({"run": result.run, "dry_run": dry_run, "expires": expires,
                       "summary": counts, "outcomes": outcomes, "plan": plan})  # fmt: skip
    else:
        from smartbuild.console import escape

        for o in outcomes:
            if not o.status.ok:
                out.error(
                    f"{escape(o.device)}.{escape(o.point)}: {o.status}: {escape(o.message or '')}"
                )
        out.print(
            f"run {result.run}: "
            + ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "written")
            + (" (dry run: nothing written)" if dry_run else "")
            + (f"; override expires in {for_}" if for_ else "")
        )  # fmt: skip
    exit_for_outcomes(outcomes, reached=counts["skipped"] > 0)


def exit_for_outcomes(outcomes: Any, *, reached: bool = False) -> None:
    """Exit 3 when no device could be reached, 5 on refusals, 4 when some writes failed.

    ``reached``: the plan read some points already at their targets (those devices answered).
    """
    from smartbuild.model.writes import WriteStatus

    bad = [o for o in outcomes if not o.status.ok]
    if not bad:
        return
    ctx = click.get_current_context()
    if not reached and all(
        o.status == WriteStatus.REFUSED and o.cause == "unreachable" for o in outcomes
    ):
        ctx.exit(int(ExitStatus.UNREACHABLE))
    if any(o.status.sent or o.status == WriteStatus.REJECTED for o in bad) or any(
        o.cause == "unreachable" for o in bad
    ):
        ctx.exit(int(ExitStatus.PARTIAL))
    ctx.exit(int(ExitStatus.REFUSED))

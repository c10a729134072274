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
    if not app.site_path.exists():
        return []
    loaded = app.site()
    return [loaded.path.parent / p for p in loaded.site.profiles]


def _load(app: App, ref: str) -> tuple[Any, Path]:
    from smartbuild.profiles.loading import load_profile, resolve_profile

    path = resolve_profile(ref, _site_profile_dirs(app))
    return load_profile(path), path


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


def _plan(app: App, ref: str, at: str | None, zones: tuple[str, ...], conns: Any) -> Any:
    from smartbuild.profile_run import live_plan, parse_at

    prof, path = _load(app, ref)
    moment = parse_at(at, app.site().site.timezone)
    return prof, path, live_plan(app, conns, prof, moment, list(zones))


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
    from smartbuild.aio import run_sync
    from smartbuild.devices import Connections
    from smartbuild.profile_run import plan_json, show_plan

    app = get_app()

    async def go() -> Any:
        async with Connections(app) as conns:
            prof, path, coro = _plan(app, profile_ref, at, zones, conns)
            return prof, path, await coro

    prof, path, live = run_sync(go())
    if app.output.json_mode:
        app.output.emit_json(plan_json(live))
    else:
        show_plan(app, live, f"plan of {prof.profile} ({path})")
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
def apply(profile_ref: str, at: str | None, zones: tuple[str, ...], yes: bool, dry_run: bool,
          for_: str | None, pace: float) -> None:  # fmt: skip
    """Apply a profile: plan, confirm, write, read back, journal (exit 0, 3 or 4)."""
    from smartbuild.aio import run_sync
    from smartbuild.apply import Run, WriteRequest, apply_writes, confirm
    from smartbuild.devices import Connections
    from smartbuild.profile_run import plan_json, show_plan
    from smartbuild.profiles.loading import file_sha256
    from smartbuild.timeparse import parse_duration

    app = get_app()
    out = app.output
    expires = None
    if for_:
        seconds = parse_duration(for_)
        if seconds <= 0:
            raise UsageError(
                f"--for {for_}: an override must last longer than 0 s", hint="e.g. --for 2h"
            )
        expires = time.time() + seconds
    summary: dict[str, Any] = {}

    async def go() -> None:
        async with Connections(app) as conns:
            prof, path, coro = _plan(app, profile_ref, at, zones, conns)
            live = await coro
            changes = live.plan.changes()
            if not out.json_mode:
                show_plan(app, live, f"apply {prof.profile} ({path})")
            summary["plan"] = plan_json(live)
            if not changes:
                out.info("nothing to change")
            elif not dry_run:
                confirm(app, f"write {len(changes)} value(s) to the devices above?", yes)
            details: dict[str, Any] = {
                "profile_path": str(path),
                "profile_sha256": file_sha256(path),
                "dry_run": dry_run,
                "expires": expires,
            }
            with Run(app, f"profile apply {prof.profile}", **details) as run:
                summary["run"] = run.id
                for action in live.plan.actions:
                    if action.status == "blocked":
                        run.emit("blocked", action.device, action.point, before=action.current,
                                 requested=action.target, message="; ".join(action.blocked_by))  # fmt: skip
                if dry_run or not changes:
                    run.status = "dry-run" if dry_run else "ok"
                    summary["outcomes"] = []
                    return
                requests = [
                    WriteRequest(live.devices[a.device], a.point, a.target, a.reason)
                    for a in changes
                ]
                outcomes = await apply_writes(run, conns, requests, pace_s=pace)
                summary["outcomes"] = outcomes
                failed = sum(o.status == "failed" for o in outcomes)
                unverified = sum(o.status == "unverified" for o in outcomes)
                run.status = (
                    "ok"
                    if not (failed or unverified)
                    else ("failed" if failed == len(outcomes) else "partial")
                )

    run_sync(go())
    outcomes = summary.get("outcomes", [])
    counts = {
        k: sum(o.status == k for o in outcomes)
        for k in ("written", "unchanged", "failed", "unverified")
    }
    plan_counts = summary["plan"]["counts"]
    counts["skipped"] = (
        plan_counts.get("skip-unchanged", 0)
        + plan_counts.get("skip-deadband", 0)
        + counts.pop("unchanged")
    )
    counts["blocked"] = plan_counts.get("blocked", 0)
    if out.json_mode:
        out.emit_json({"run": summary.get("run"), "dry_run": dry_run, "expires": expires,
                       "summary": counts, "outcomes": outcomes, "plan": summary["plan"]})  # fmt: skip
    else:
        for o in outcomes:
            if o.status in ("failed", "unverified"):
                out.error(f"{o.device}.{o.point}: {o.status}: {o.message}")
        out.print(
            f"run {summary.get('run')}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + (" (dry run: nothing written)" if dry_run else "")
            + (f"; override expires in {for_}" if for_ else "")
        )  # fmt: skip
    if counts["failed"] and counts["failed"] == len(outcomes):
        click.get_current_context().exit(int(ExitStatus.UNREACHABLE))
    if counts["failed"] or counts["unverified"]:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))

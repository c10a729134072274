"""`smartbuild fleet status | apply | log`: the hubs on one MQTT broker, from a laptop."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import click

from smartbuild.cli import get_app
from smartbuild.commands import FiniteFloat

if TYPE_CHECKING:
    from smartbuild.cli import App
    from smartbuild.mqtt.settings import BrokerSettings

BROKER_HELP = ("Broker URL, e.g. mqtt://user@host:1883 (default $SMARTBUILD_BROKER, else the "
               "site's mqtt block; password from $MQTT_PASSWORD).")  # fmt: skip


def _settings(app: App, broker: str | None) -> BrokerSettings:
    """Return the broker to use: --broker, $SMARTBUILD_BROKER, or the site's mqtt block."""
    from smartbuild.errors import UsageError
    from smartbuild.mqtt.settings import BrokerSettings, aiomqtt_module

    aiomqtt_module()
    url = broker or os.environ.get("SMARTBUILD_BROKER")
    if url:
        return BrokerSettings.from_url(url)
    if app.site_path.exists():
        loaded = app.site()
        if loaded.site.mqtt is not None:
            return BrokerSettings.from_spec(loaded.site.mqtt, loaded.path.parent)
    raise UsageError("no broker given", hint="pass --broker mqtt://host:1883")


def _run(app: App, settings: BrokerSettings, work: Any) -> Any:
    """Run async work against the broker; a broker that cannot be reached is exit 3."""
    from smartbuild.aio import run_sync
    from smartbuild.errors import UnreachableError
    from smartbuild.mqtt.settings import aiomqtt_module

    mqtt = aiomqtt_module()
    try:
        return run_sync(work)
    except mqtt.MqttError as error:
        raise UnreachableError(f"cannot reach the broker {settings.display}: {error}",
                               hint="check the URL, the user and $MQTT_PASSWORD") from None  # fmt: skip


@click.group()
def fleet() -> None:
    """See and command the hubs on one MQTT broker (status, apply, log)."""


@fleet.command()
@click.option("--broker", help=BROKER_HELP)
def status(broker: str | None) -> None:
    """List the hubs seen on the broker: site, status, version, health, last seen."""
    from smartbuild.console import escape
    from smartbuild.mqtt.fleet import hubs

    app = get_app()
    settings = _settings(app, broker)
    found = _run(app, settings, hubs(settings))
    out = app.output
    if out.json_mode:
        out.emit_json({"broker": settings.display, "hubs": found})
        return
    if not found:
        out.warn(f"no hub has announced itself on {settings.display}")
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("site", "status", "version", "health", "devices", "last seen"):
        table.add_column(column, no_wrap=column == "site")
    for hub in found:
        health = hub.get("health", "?")
        if hub.get("offline_devices"):
            health += f" ({len(hub['offline_devices'])} offline)"
        table.add_row(escape(hub["site"]), escape(str(hub.get("status", "?"))),
                      escape(str(hub.get("version", "?"))), escape(health),
                      str(hub.get("devices", "?")), escape(str(hub.get("last_seen", "?"))))  # fmt: skip
    out.print(table)


@fleet.command()
@click.argument("profile")
@click.option(
    "--site", "sites", multiple=True, required=True, help="A site to apply it on (repeat)."
)
@click.option("--broker", help=BROKER_HELP)
@click.option("--at", help="Plan for this site-local time instead of now.")
@click.option("--zone", "zones", multiple=True, help="Only these zones (repeat; globs allowed).")
@click.option("--dry-run", is_flag=True, help="Plan on each hub and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (needed without a terminal).")
@click.option(
    "--id", "request_id", help="Request id (a retry with the same id is applied at most once)."
)
@click.option("--timeout", type=FiniteFloat(0.1, 3600), default=60.0, show_default=True,
              help="Seconds to wait for the hubs' answers.")  # fmt: skip
def apply(profile: str, sites: tuple[str, ...], broker: str | None, at: str | None,
          zones: tuple[str, ...], dry_run: bool, yes: bool, request_id: str | None,
          timeout: float) -> None:  # fmt: skip
    """Ask hubs to plan and apply a profile under their own leases and journals."""
    import getpass

    from smartbuild.errors import SafetyRefusal
    from smartbuild.mqtt.fleet import request

    app = get_app()
    settings = _settings(app, broker)
    names = list(dict.fromkeys(sites))
    verb = "plan" if dry_run else "apply"
    if not dry_run and not app.confirm(yes)(f"{verb} {profile} on {', '.join(names)}?"):
        raise SafetyRefusal("nothing sent: not confirmed")
    body = {"action": "apply", "profile": profile, "at": at, "zones": list(zones),
            "dry_run": dry_run, "by": f"fleet apply by {getpass.getuser()}"}  # fmt: skip
    if request_id:
        body["id"] = request_id
    gathered = _run(app, settings, request(settings, names, body, timeout=timeout))
    _render(app, gathered, settings)


@fleet.command()
@click.option("--broker", help=BROKER_HELP)
@click.option("--site", "sites", multiple=True, help="Only these sites (default: every hub seen).")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True,
              help="Runs per hub.")  # fmt: skip
@click.option("--timeout", type=FiniteFloat(0.1, 3600), default=10.0, show_default=True,
              help="Seconds to wait for the hubs' answers.")  # fmt: skip
def log(broker: str | None, sites: tuple[str, ...], limit: int, timeout: float) -> None:
    """Gather the latest journal runs of the hubs, newest first."""
    from smartbuild.mqtt.fleet import hubs, request

    app = get_app()
    settings = _settings(app, broker)

    async def gather() -> Any:
        names = list(sites) or [h["site"] for h in await hubs(settings)
                                if h.get("status") == "online"]  # fmt: skip
        return await request(settings, names, {"action": "log", "limit": limit}, timeout=timeout)

    gathered = _run(app, settings, gather())
    runs = [{"site": site, **r} for site, a in gathered.answers.items() for r in a.get("runs", [])]
    runs.sort(key=lambda r: r.get("started") or 0, reverse=True)
    out = app.output
    if out.json_mode:
        out.emit_json({"runs": runs, "missing": gathered.missing})
    else:
        from smartbuild.console import escape

        for r in runs:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("started") or 0))
            out.print(f"{when}  {escape(r['site'])}  {escape(str(r.get('id')))}  "
                      f"{escape(str(r.get('status')))}  {escape(str(r.get('command')))}",
                      highlight=False)  # fmt: skip
    _exit_for_missing(app, gathered)


def _render(app: App, gathered: Any, settings: BrokerSettings) -> None:
    """Print each hub's answer; exit 4 when any hub failed, refused or did not answer."""
    from smartbuild.console import escape

    out = app.output
    if out.json_mode:
        out.emit_json({"request": gathered.request, "answers": gathered.answers,
                       "missing": gathered.missing})  # fmt: skip
    else:
        for site, answer in sorted(gathered.answers.items()):
            outcomes = answer.get("outcomes") or []
            written = sum(1 for o in outcomes if o.get("status") in ("written", "unchanged"))
            detail = answer.get("message") or f"{written}/{len(outcomes)} verified"
            run = f" run {answer['run']}" if answer.get("run") else ""
            out.print(f"{escape(site)}: {escape(str(answer.get('status')))}{escape(run)} — "
                      f"{escape(str(detail))}", highlight=False)  # fmt: skip
    bad = [s for s, a in gathered.answers.items()
           if a.get("status") not in ("ok", "dry-run", "duplicate")]  # fmt: skip
    if bad:
        out.error(f"not applied everywhere: {', '.join(sorted(bad))}")
    _exit_for_missing(app, gathered, failed=bool(bad))


def _exit_for_missing(app: App, gathered: Any, failed: bool = False) -> None:
    """Exit 3 when no hub answered, 4 when some did not answer or did not apply it."""
    from smartbuild.errors import ExitStatus

    if gathered.missing:
        app.output.error(f"no answer from: {', '.join(gathered.missing)}",
                         "`smartbuild fleet status` lists the hubs on the broker")  # fmt: skip
    if gathered.missing and not gathered.answers:
        click.get_current_context().exit(int(ExitStatus.UNREACHABLE))
    if gathered.missing or failed:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))

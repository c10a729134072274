"""`smartbuild hub run|status|check|reload`: run the building unattended, and look at it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import ExitStatus, SmartbuildError, UsageError

if TYPE_CHECKING:
    from smartbuild.hub.config import HubConfig
    from smartbuild.hub.face import Face
    from smartbuild.services.session import Session

RELOAD_WAIT_S = 15.0


@click.group()
def hub() -> None:
    """Run the building unattended: schedules, override releases, polling (a hub)."""


def _clock(app: App, start: str | None, speed: float) -> Any:
    from zoneinfo import ZoneInfo

    from smartbuild.hub.face import Clock

    tz = ZoneInfo(app.site().site.timezone)
    moment = None
    if start:
        try:
            moment = dt.datetime.fromisoformat(start)
        except ValueError:
            raise UsageError(
                f"invalid --start {start!r}", hint='write e.g. --start "2026-01-15 06:55"'
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)  # site-local, like `sim --start`
    return Clock(moment, speed, tz=tz)


@hub.command()
@click.option(
    "--start", help='Simulated start time, site-local (e.g. "2026-01-15 06:55"); default now.'
)
@click.option(
    "--speed",
    type=FiniteFloat(0.001, 3600),
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (match `sim --speed`).",
)
@click.option(
    "--mqtt",
    "mqtt_url",
    metavar="URL",
    help="Bridge to this broker (mqtt://user@host:1883; password from $MQTT_PASSWORD), "
    "instead of the site's mqtt: block.",
)
def run(start: str | None, speed: float, mqtt_url: str | None) -> None:
    """Run the hub in the foreground until SIGTERM or Ctrl-C (systemd runs it like this)."""
    from smartbuild.aio import run_sync
    from smartbuild.hub.faces import load_faces
    from smartbuild.hub.runner import Hub

    app = get_app()
    out = app.output
    clock = _clock(app, start, speed)
    faces = load_faces(out.warn)
    factory = _mqtt_factory(mqtt_url)
    if mqtt_url is None and app.site().site.mqtt is not None:
        from smartbuild.mqtt.settings import aiomqtt_module

        aiomqtt_module()  # a missing extra stops the start, with the install hint
    hub_ = Hub(app.site_path, app.home, clock=clock, faces=faces, face_factory=factory,
               warn=out.warn)  # fmt: skip

    started = time.monotonic()
    out.info(f"hub starting on {app.site_path} (status: smartbuild hub status)")
    run_sync(hub_.run())
    if out.json_mode:
        out.emit_json({"stopped": True, "seconds": round(time.monotonic() - started, 1),
                       "transitions": hub_.scheduler.transition_count, "errors": hub_.errors})  # fmt: skip
    else:
        out.info(f"hub stopped after {time.monotonic() - started:.0f} s")


def _mqtt_factory(url: str | None) -> Callable[[Session, HubConfig], list[Face]]:
    """Return what adds the MQTT bridge to a configuration: with --mqtt, or a site's mqtt: block."""
    settings = None
    if url is not None:
        from smartbuild.mqtt.settings import BrokerSettings, aiomqtt_module

        aiomqtt_module()  # a missing extra stops the start, with the install hint
        settings = BrokerSettings.from_url(url)

    def factory(session: Session, config: HubConfig) -> list[Face]:
        if settings is None and session.site().site.mqtt is None:
            return []
        from smartbuild.mqtt.bridge import MqttBridge

        return [MqttBridge(settings)]

    return factory


@hub.command()
def check() -> None:
    """Validate everything the hub would load: site, hub block, profiles (exit 2 with file:line:col)."""
    from smartbuild.hub.config import load_hub_config
    from smartbuild.hub.permissions import permission_problems

    app = get_app()
    config = load_hub_config(app.session)
    problems = permission_problems(app.session.devices().values())
    data = {**config.summary(), "permissions": problems, "ok": not problems}
    out = app.output
    if out.json_mode:
        out.emit_json(data)
    else:
        from smartbuild.console import escape

        block = (
            ""
            if config.has_block
            else " (no hub: block: no schedules; polls and releases overrides)"
        )
        out.print(f"{escape(str(config.site_path))}: valid{block}")
        for entry in config.schedules:
            out.print(f"  schedule {escape(entry.profile.profile)} on {len(entry.zones)} zone(s)")
        if config.routines:
            out.print(f"  routines: {escape(', '.join(config.routines))}")
        out.print(f"  polls {data['points_polled']} point(s) of {data['devices_polled']} device(s)")
        for problem in problems:
            out.warn(escape(problem))
    if problems:
        click.get_current_context().exit(int(ExitStatus.ERROR))


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@hub.command()
def status() -> None:
    """Show what a hub of this home runs: schedules, next transitions, overrides, devices, errors."""
    from smartbuild.hub.status import read_status, status_path

    app = get_app()
    out = app.output
    data = read_status(app.home)
    if data is None:
        raise SmartbuildError(f"no hub has run for {app.home} (no {status_path(app.home).name})",
                              hint="start one with `smartbuild hub run`")  # fmt: skip
    if out.json_mode:
        out.emit_json(data)
    else:
        _print_status(app, data)
    if not data["running"]:
        click.get_current_context().exit(int(ExitStatus.UNREACHABLE))


def _print_status(app: App, data: dict[str, Any]) -> None:
    from smartbuild.console import escape

    out = app.output
    clock = data["clock"]
    state = data["state"] if data["running"] else f"not running (last state {data['state']})"
    sim = f", simulated at {clock['speed']:g}x" if clock["simulated"] else ""
    out.print(
        f"hub pid {data['pid']}: {state}; time {clock['now']}{sim}; status {_ago(data['age_s'])} old"
    )
    for item in data["schedules"]:
        nxt = f", next {item['next_mode']} at {item['next_at']}" if item.get("next_at") else ""
        out.print(f"  schedule {escape(item['profile'])} on {item['zone_count']} zone(s): "
                  f"{escape(str(item.get('mode')))}{nxt}")  # fmt: skip
    if not data["schedules"]:
        out.print("  no schedules (the site has no hub: block)")
    out.print(f"  transitions applied: {data['transitions']}")
    for c in data.get("control", []):
        learn = c["learning"]
        starts = ", ".join(f"{z} {t[11:16]}" for z, t in list(c["starts"].items())[:6])
        peak = learn["quiet_peak_kw"]
        out.print(
            f"  control of {escape(c['profile'])}: {c['plans']} plans, shedding {c['shedding']}; "
            f"learned {learn['zones_learned_count']} zone(s) from {learn['recoveries']} "
            f"recoveries" + (f", peak without recoveries {peak:g} kW" if peak is not None else "")
        )
        if starts:
            out.print(f"    optimal starts: {escape(starts)}")
        for r in c["runs"][-3:]:
            out.print(f"    run {r['run']} at {r['at'][11:16]}: {escape(r['why'])}, "
                      f"{r['writes']} write(s)" + (f", {r['failed']} failed" if r["failed"] else ""))  # fmt: skip
        if learn["problem"]:
            out.warn(escape(learn["problem"]))
    for o in data["overrides"]:
        out.print(f"  override {o['run']} ({escape(o['command'])}): {o['points']} point(s), "
                  f"{_ago(o['remaining_s'])} left")  # fmt: skip
    for r in data["releases"][-3:]:
        conflicts = f", conflicts: {escape(', '.join(r['conflicts']))}" if r["conflicts"] else ""
        out.print(
            f"  released {r['override']} (run {r['run']}): {r['restored']} restored{conflicts}"
        )
    devices = data["devices"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(devices["counts"].items())) or "none polled"
    out.print(f"  devices: {counts}")
    for dev, health in list(devices["down"].items())[:10]:
        out.print(f"    {escape(dev)} down: {escape(str(health['last_error']))}")
    for name, face in data["faces"].items():
        out.print(f"  face {escape(name)}: {face['state']}, {face['restarts']} restart(s)")
    if data["reload"].get("ok") is False:
        out.warn(f"last reload refused: {escape(str(data['reload']['error']))}")
    for error in data["errors"][-5:]:
        out.print(f"  [red]error[/red] {error['at']}: {escape(error['message'])}")


@hub.command()
@click.option("--wait", "wait_s", type=FiniteFloat(0, 300), default=RELOAD_WAIT_S, show_default=True,
              help="Seconds to wait for the hub to report the reload.")  # fmt: skip
def reload(wait_s: float) -> None:
    """Make the running hub validate its files again and switch to them (SIGHUP)."""
    import os
    import signal

    from smartbuild.hub.status import read_status

    app = get_app()
    data = read_status(app.home)
    if data is None or not data["running"]:
        raise SmartbuildError(f"no hub is running for {app.home}", hint="start one with `smartbuild hub run`",
                              exit_status=ExitStatus.UNREACHABLE)  # fmt: skip
    seq = data["reload"]["seq"]
    os.kill(int(data["pid"]), signal.SIGHUP)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read_status(app.home)
        if now is not None and now["reload"]["seq"] > seq:
            info = now["reload"]
            if app.output.json_mode:
                app.output.emit_json(info)
            if info["ok"]:
                if not app.output.json_mode:
                    app.output.print("reloaded: the hub runs the new configuration")
                return
            from smartbuild.console import escape

            for line in info["problems"]:
                app.output.error(escape(line))
            app.output.warn("the hub keeps running its previous configuration")
            click.get_current_context().exit(int(ExitStatus.USAGE))
    raise SmartbuildError(f"the hub (pid {data['pid']}) did not report the reload within {wait_s:g} s",
                          hint="`smartbuild hub status` shows what it is doing")  # fmt: skip

"""`smartbuild demo`: the main job on a simulated building, in one command, no hardware."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from smartbuild.cli import App, get_app

PROFILE = "office-en16798-cat2"
AT = "2026-01-15 10:00"  # a Thursday morning in the heating season: the office is occupied
SIM_LEAD_MIN = 30  # the simulated building starts half an hour before the planned moment


class StepFailed(Exception):
    """A demo step did not do what it should (the story says what and why)."""


class Story:
    """Numbered steps told on the terminal and recorded in a transcript."""

    def __init__(self, app: App, total: int) -> None:
        self.app = app
        self.out = app.output
        self.total = total
        self.steps: list[dict[str, Any]] = []
        self.failed = False

    @contextmanager
    def step(self, name: str, title: str, why: str) -> Iterator[dict[str, Any]]:
        """Run one step: header, explanation, its figures, its outcome."""
        number = len(self.steps) + 1
        record: dict[str, Any] = {"name": name, "ok": False, "seconds": 0.0, "figures": {}}
        self.steps.append(record)
        if self.out.json_mode:
            self.out.info(f"[{number}/{self.total}] {title}")
        else:
            self.out.print()
            self.out.out.rule(f"[bold]{number}/{self.total} · {title}", align="left")
            self.out.print(f"[dim]{why}[/dim]")
        if self.failed:
            record["skipped"] = True
            self.say("[yellow]skipped: an earlier step failed[/yellow]")
            yield record["figures"]
            return
        started = time.monotonic()
        try:
            yield record["figures"]
            record["ok"] = True
        except StepFailed as error:
            record["error"] = str(error)
            self.failed = True
            self.out.error(f"{title}: {error}")
        finally:
            record["seconds"] = round(time.monotonic() - started, 3)
        if record["ok"] and not self.out.json_mode:
            self.out.print(f"[green]✓[/green] {record['seconds']:.1f} s")

    def say(self, text: Any) -> None:
        """Tell the reader something (nothing in JSON mode)."""
        self.out.print(text)


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


class Calls:
    """The demo's steps call the application core directly: the same services every face uses."""

    def __init__(self, site: Path, home: Path) -> None:
        from smartbuild.services.session import Session

        self.session = Session(site, home)

    def reload(self) -> None:
        """Validate the (changed) site file again on next use."""
        self.session.reload()

    async def close(self) -> None:
        """Close transports and the journal."""
        await self.session.aclose()
        self.session.close()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_demo(
    app: App, home: Path, zones: int, speed: float, ble: bool | None, keep: bool
) -> list[dict[str, Any]]:
    """Run every step of the demo; return the transcript steps."""
    import datetime as dt
    import os

    from smartbuild.aio import run_sync
    from smartbuild.sim.launch import SimProcess, free_base

    story = Story(app, 10)
    site = home / "site.yaml"
    env: dict[str, str] = {}
    start = (dt.datetime.fromisoformat(AT) - dt.timedelta(minutes=SIM_LEAD_MIN)).isoformat(" ")
    extra = [] if ble is None else ["--ble" if ble else "--no-ble"]
    sim = SimProcess(home / "sim", zones=zones, speed=speed, start_at=start, base=free_base(),
                     site_out=site, extra=extra)  # fmt: skip
    saved = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    try:
        run_sync(_story(story, sim, home, site, env, speed))
    finally:
        if saved is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = saved
        story.failed = False  # stopping always runs
        with story.step("stop", "Stop the simulator", "SIGTERM, like Ctrl-C: every server, "
                        "announcement and the private D-Bus go away.") as fig:  # fmt: skip
            report = sim.stop()
            fig.update(exit_status=report["exit_status"], leftovers=report["leftovers"])
            story.say(f"simulator exited with status {report['exit_status']}; "
                      f"{len(report['leftovers'])} leftovers")  # fmt: skip
            if report["leftovers"] or report["exit_status"] not in (0, None):
                raise StepFailed(f"unclean stop: {report}")
    if not keep:
        story.say(f"[dim]demo home {home} is removed; run with --home DIR to keep it[/dim]")
    return story.steps


async def _story(
    story: Story, sim: Any, home: Path, site: Path, env: dict[str, str], speed: float
) -> None:
    """The steps between starting and stopping the simulator."""
    import os

    with story.step("simulator", "Start the simulated building",
                    "`smartbuild sim` in a child process: Modbus TCP devices on loopback addresses, "
                    "mDNS on 127.0.0.1, BLE sensors on a private D-Bus, physics at speed.") as fig:  # fmt: skip
        from smartbuild.sim.launch import free_base

        for attempt in range(3):  # a random free /24 of the loopback; another program may race us
            try:
                state = sim.start()
                break
            except Exception as error:
                if "in use" not in str(error) or attempt == 2:
                    raise StepFailed(str(error)) from None
                sim.base = free_base()
        mdns, ble = state.get("mdns"), state.get("ble")
        fig.update(zones=state["zones"], devices=state["devices"], modbus_devices=state["modbus"]["devices"],
                   mdns_services=len(mdns["services"]) if mdns else 0,
                   ble_sensors=len(ble["devices"]) if ble else 0,
                   bacnet_devices=len((state.get("bacnet") or {}).get("devices", [])),
                   start_seconds=state["start_seconds"],
                   sim_time=state["sim_time"])  # fmt: skip
        if ble:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = ble["bus_address"]  # bleak reads it on use
        else:
            story.say(
                "[yellow]BLE skipped: dbus-daemon is not installed (apt-get install dbus-daemon)[/yellow]"
            )
        story.say(f"{state['zones']} zones, {state['devices']} devices; Modbus on {state['modbus']['range']}; "
                  f"simulated time {state['sim_time'][:16]} at {state['speed']:g}×")  # fmt: skip
    state = sim.state
    calls = Calls(site, home)
    try:
        await _steps(story, calls, state, home, site)
        await _hub_step(story, calls, home, site, speed)
    finally:
        await calls.close()


async def _discover_and_save(
    calls: Calls, site: Path, flags: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    from smartbuild.inventory import save_candidates

    session = calls.session
    result = await session.discover(session.plan_discovery(flags))
    added, present = save_candidates(site, result.found.values())
    calls.reload()
    return {"candidates": [c.to_json() for c in result.found.values()], "errors": result.errors,
            "saved": {"added": added, "present": present}}  # fmt: skip


async def _steps(story: Story, calls: Calls, state: dict[str, Any], home: Path, site: Path) -> None:
    """Discover, validate, apply, verify, journal and roll back on the running simulator."""
    with story.step("discover", "Discover and identify over Modbus, mDNS and BLE",
                    "A bounded sweep of the simulator's addresses and units, an mDNS browse of "
                    "127.0.0.1 and a BLE scan; each device is matched to a template and saved into "
                    "the site file the simulator wrote (devices already in it are kept).") as fig:  # fmt: skip
        # the browse window is long enough for every announcement; --expect-style early ends are
        # for people, the demo waits the window out
        flags: dict[str, dict[str, Any]] = {"modbus-tcp": {
            "targets": [state["modbus"]["range"]], "units": list(state["modbus"]["units"]),
            "timeout": 4.0}}  # fmt: skip
        if state.get("mdns"):
            flags["mdns"] = {"mdns": True, "interfaces": ["127.0.0.1"], "timeout": 4.0}
        if state.get("ble"):
            flags["ble"] = {"ble": True, "duration": 2.5}
        if state.get("bacnet"):  # the BACnet devices, when bacpypes3 is installed
            flags["bacnet-ip"] = {"targets": [d["address"] for d in state["bacnet"]["devices"]]}
        ours = _sim_devices(site, state)
        data = await _discover_and_save(calls, site, flags)
        found = data["candidates"]
        mine = [
            c for c in found if _key(c) in ours or (c.get("identity") or {}).get("service") in ours
        ]
        by: dict[str, int] = {}
        for c in mine:
            by[c["transport"]] = by.get(c["transport"], 0) + 1
        identified = [c for c in mine if c.get("template")]
        saved = data.get("saved") or {}
        fig.update(found=len(found), from_simulator=len(mine), by_transport=by,
                   identified=len(identified), added=len(saved.get("added", [])),
                   already_there=len(saved.get("present", [])), errors=data.get("errors", []))  # fmt: skip
        story.say(_table(["template", "n", "transport", "e.g. address", "says", "matched by"],
                         _kinds(identified)))  # fmt: skip
        others = len(found) - len(mine)
        story.say(f"{len(mine)} devices of the simulated building found "
                  f"({', '.join(f'{n} {t}' for t, n in sorted(by.items()))}), {len(identified)} identified"
                  + (f"; {others} more announced on the loopback by other programs" if others else "")
                  + f"; saved: {fig['added']} added, {fig['already_there']} already there")  # fmt: skip
        expected = state["modbus"]["devices"]
        if by.get("modbus-tcp", 0) < expected:
            raise StepFailed(f"found {by.get('modbus-tcp', 0)} of the {expected} Modbus devices")
    with story.step("validate", "Validate the inventory", "The site file: zones, devices, templates, "
                    "addresses — every reference checked.") as fig:  # fmt: skip
        loaded = calls.session.site()
        summary = [f"site {loaded.site.site!r}: {len(loaded.site.zones)} zones, "
                   f"{len(loaded.site.devices)} devices"]  # fmt: skip
        fig.update(ok=True, summary=summary)
        story.say("; ".join(summary))
    run_id = await _apply_story(story, calls)
    with story.step("rollback", "Roll back and check the old values are back",
                    "Rollback restores what the run changed where the device still holds what it "
                    "wrote, then a fresh read confirms it.") as fig:  # fmt: skip
        if run_id is None:
            raise StepFailed("there is no run to roll back")
        undo = await calls.session.rollback(run_id, confirm=lambda question: True)
        outcomes = [o.to_json() for o in undo.outcomes]
        restored = {(o["device"], o["point"]): o["requested"] for o in outcomes}
        statuses = {(o["device"], o["point"]): o["status"] for o in outcomes}
        now = await _read_points(calls, list(restored))
        same = [k for k, v in restored.items() if _close(now.get(k), v)]
        fig.update(run=undo.run, restored=sum(o["status"] == "written" for o in outcomes),
                   checked=len(restored), back_to_before=len(same))  # fmt: skip
        story.say(f"rollback run {undo.run}: {fig['restored']} restored; a fresh read finds "
                  f"{len(same)}/{len(restored)} points back at their old values")  # fmt: skip
        if len(same) != len(restored):
            wrong = [f"{d}.{p}: {now.get((d, p))!r}, not {v!r} ({statuses.get((d, p))})"
                     for (d, p), v in restored.items() if (d, p) not in same]  # fmt: skip
            raise StepFailed(f"{len(wrong)} points are not back at their old values: "
                             + "; ".join(wrong))  # fmt: skip


async def _hub_step(story: Story, calls: Calls, home: Path, site: Path, speed: float) -> None:
    """Run the hub on simulated time over a schedule transition and an override's expiry."""
    from smartbuild.commands.demo_hub import HUB_START, TRANSITION, HubStepFailed, run_hub

    with story.step("hub", "The hub: a schedule transition and an override release",
                    f"`smartbuild hub run` on simulated time from {HUB_START}: it applies the "
                    f"schedule's present slot, then its {TRANSITION} transition, and releases a "
                    "`--for` override when it expires — each a journaled run.") as fig:  # fmt: skip
        try:
            figures = await run_hub(calls.session, site, home, speed)
        except HubStepFailed as error:
            raise StepFailed(str(error)) from None
        fig.update(figures)
        rows = [[r["at"], r["command"], r["writes"], r["failed"]] for r in figures["runs"]]
        story.say(_table(["sim time", "hub run", "writes", "failed"], rows))
        story.say(f"override on {figures['zone']} released {figures['release_lag_s']:g} simulated s "
                  f"after it expired: {figures['released']} restored, "
                  f"{len(figures['conflicts'])} conflicts")  # fmt: skip
        if figures["errors"] or figures["conflicts"]:
            raise StepFailed("; ".join(figures["errors"] + figures["conflicts"])[:500])


def _key(c: dict[str, Any]) -> tuple[str, str, int | None]:
    return (c["transport"], str(c["address"]), c.get("unit"))


def _sim_devices(site: Path, state: dict[str, Any]) -> set[Any]:
    """Return the keys of the simulator's devices (its site file) and its mDNS service names."""
    import yaml

    devices = (yaml.safe_load(site.read_text()) or {}).get("devices") or {}
    keys: set[Any] = {(d["transport"], str(d["address"]), d.get("unit")) for d in devices.values()}
    keys.update((state.get("mdns") or {}).get("services", []))
    return keys


def _kinds(identified: list[dict[str, Any]]) -> list[list[Any]]:
    """Return one table row per template: how many, where one of them is, what it said."""
    by_template: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(identified, key=lambda c: (c["transport"], c["address"], c.get("unit") or 0)):
        by_template.setdefault(c["template"], []).append(c)
    rows = []
    for template, group in by_template.items():
        c, ident = group[0], group[0].get("identity") or {}
        who = " ".join(
            str(ident[k])
            for k in ("vendor_name", "product_code", "vendor", "model")
            if ident.get(k)
        )
        if not who and ident.get("sunspec"):
            who = f"SunSpec models {'+'.join(map(str, ident['sunspec'].get('models', [])))}"
        unit = "" if c.get("unit") is None else f" #{c['unit']}"
        how = (c.get("matched_by") or "").split(",")[0]
        rows.append([template, len(group), c["transport"], f"{c['address']}{unit}", who, how])
    return rows


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-6 + 0.05
    return bool(a == b)


async def _read_points(calls: Calls, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    by_device: dict[str, list[str]] = {}
    for device, point in keys:
        by_device.setdefault(device, []).append(point)
    devices = calls.session.devices()
    result = await calls.session.read([(devices[d], pts) for d, pts in by_device.items()])
    return {(r.device, r.point): r.value for r in result.readings}


async def _apply_story(story: Story, calls: Calls) -> str | None:
    """Plan, apply, verify and show the journal; return the run id."""
    from smartbuild.services.plans import plan_json

    session = calls.session
    run_id: str | None = None
    with story.step("plan", f"Plan the {PROFILE} profile at {AT}",
                    "The planner reads the current values and proposes targets from the EN 16798-1 "
                    "Category II comfort band; nothing is written yet.") as fig:  # fmt: skip
        live = await session.plan(PROFILE, AT)
        plan = plan_json(live)
        changes = [a for a in plan["actions"] if a["status"] in ("change", "unreadable")]
        fig.update(mode=plan["mode_why"], counts=plan["counts"], changes=len(changes))
        rows = [[a["zone"], f"{a['device']}.{a['point']}", _fmt(a["current"]), _fmt(a["target"]), a["unit"]]
                for a in changes[:8]]  # fmt: skip
        story.say(
            f"mode {plan['mode_why']}; comfort {plan['comfort']['low']:g}–{plan['comfort']['high']:g} °C"
        )
        story.say(_table(["zone", "device.point", "now", "target", "unit"], rows))
        story.say(
            f"{len(changes)} changes planned"
            + (f" (first {len(rows)} shown)" if len(changes) > len(rows) else "")
        )
        if not changes:
            raise StepFailed("the plan changes nothing: the demo has nothing to show")
    with story.step("apply", "Apply: confirm, write, read back, journal",
                    "Every write reads the value before, journals the intent, writes and reads back "
                    "to verify.") as fig:  # fmt: skip
        applied = await session.apply(await session.plan(PROFILE, AT), confirm=lambda q: True,
                                      pace_s=0.05)  # fmt: skip
        run_id = applied.run
        outcomes = [o.to_json() for o in applied.outcomes]
        summary: dict[str, int] = {}
        for o in outcomes:
            summary[o["status"]] = summary.get(o["status"], 0) + 1
        verified = [
            o for o in outcomes if o["status"] == "written" and _close(o["after"], o["requested"])
        ]
        fig.update(run=run_id, summary=summary, verified=len(verified), writes=len(outcomes))
        rows = [[f"{o['device']}.{o['point']}", _fmt(o["before"]), _fmt(o["requested"]), _fmt(o["after"]), o["status"]]
                for o in outcomes[:8]]  # fmt: skip
        story.say(_table(["device.point", "before", "requested", "read back", "status"], rows))
        story.say(f"run {run_id}: {len(verified)}/{len(outcomes)} writes verified by read-back")
        if len(verified) != len(outcomes):
            raise StepFailed(f"{len(outcomes) - len(verified)} writes were not verified")
    with story.step("verify", "Verify on the devices",
                    "A separate read, as a technician would do it, finds the new values.") as fig:  # fmt: skip
        wanted = {(o["device"], o["point"]): o["requested"] for o in outcomes}
        now = await _read_points(calls, list(wanted))
        good = [k for k, v in wanted.items() if _close(now.get(k), v)]
        fig.update(checked=len(wanted), holding=len(good))
        story.say(f"{len(good)}/{len(wanted)} points hold what was written")
        if len(good) != len(wanted):
            raise StepFailed("some devices do not hold what was written")
    with story.step("journal", "The journal of the run", "Every step of every write is in the SQLite "
                    "journal: who, what, before, after, verified.") as fig:  # fmt: skip
        entries = list(session.journal.entries(run=str(run_id)))
        kinds: dict[str, int] = {}
        for e in entries:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        fig.update(entries=len(entries), kinds=kinds)
        marks = {None: "", True: "yes", False: "NO"}
        first = list(dict.fromkeys((e["device"], e["point"]) for e in entries))[:3]
        rows = [[e["kind"], e["device"], e["point"], _fmt(e["before"]), _fmt(e["requested"]),
                 _fmt(e["after"]), marks[e["verified"]]]
                for e in entries if (e["device"], e["point"]) in first]  # fmt: skip
        story.say(
            _table(["kind", "device", "point", "before", "requested", "after", "verified"], rows)
        )
        story.say(
            f"{len(entries)} journal entries: "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        )
    return run_id


@click.command()
@click.option(
    "--zones",
    type=click.IntRange(1, 100),
    default=12,
    show_default=True,
    help="Zones of the simulated building.",
)
@click.option(
    "--speed",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Simulated seconds per second.",
)
@click.option(
    "--ble/--no-ble", default=None, help="Include BLE (default: when dbus-daemon is installed)."
)
def demo(zones: int, speed: float, ble: bool | None) -> None:
    """Run the main job on a simulated building: discover, plan, apply, verify, roll back."""
    import shutil
    import tempfile

    app = get_app()
    out = app.output
    root = click.get_current_context().find_root()
    # only --home on the command line keeps the demo's files; $SMARTBUILD_HOME is for real work
    explicit_home = root.get_parameter_source("home") == click.core.ParameterSource.COMMANDLINE
    home = app.home if explicit_home else Path(tempfile.mkdtemp(prefix="smartbuild-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        steps = run_demo(app, home, zones, speed, ble, keep=explicit_home)
    finally:
        if not explicit_home:
            shutil.rmtree(home, ignore_errors=True)
    ok = all(s["ok"] for s in steps)
    seconds = round(time.monotonic() - started, 3)
    if out.json_mode:
        out.emit_json({"ok": ok, "seconds": seconds, "profile": PROFILE, "at": AT, "zones": zones,
                       "home": str(home) if explicit_home else None, "steps": steps})  # fmt: skip
    else:
        out.print()
        verdict = "[green]demo complete[/green]" if ok else "[red]demo failed[/red]"
        out.print(f"{verdict}: {sum(s['ok'] for s in steps)}/{len(steps)} steps in {seconds:.1f} s")
    if not ok:
        click.get_current_context().exit(1)

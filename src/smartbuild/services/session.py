"""The application core every face drives: one site, one registry, one journal, one event bus.

A ``Session`` knows no terminal: confirmation and progress are callables the face passes in, and
every operation returns typed results for the face to render. The CLI builds one per command; a
long-running hub keeps one and calls ``reload()`` when files change. All device I/O is async and
runs on the caller's event loop; ``aclose()`` releases the transports.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal, UsageError

if TYPE_CHECKING:
    from smartbuild.config.cache import Entry as CacheEntry
    from smartbuild.config.site import LoadedSite
    from smartbuild.journal import Journal
    from smartbuild.model.device import Device, Reading
    from smartbuild.model.events import Event
    from smartbuild.model.writes import WriteOutcome
    from smartbuild.profiles.recovery import RecoveryModel
    from smartbuild.services.connections import Connections
    from smartbuild.services.discovery import DiscoveryResult
    from smartbuild.services.plainsite import PlainSite
    from smartbuild.services.plans import LivePlan
    from smartbuild.services.plugins import SmartbuildPluginManager
    from smartbuild.services.registry import Entry, Registry
    from smartbuild.transports.base import DiscoverOptions

Confirm = Callable[[str], bool]  # asked before writing; False refuses (nothing written)
Observer = Callable[["Event"], None]
_UNSET: Any = object()  # not looked up yet (None is "looked up: there is none")


@dataclass
class ReadResult:
    """Readings in the order asked for, and per-device request counters."""

    readings: list[Reading]
    stats: dict[str, Any]


@dataclass
class ApplyResult:
    """A profile run: the plan, the run id and the outcome of each write."""

    plan: LivePlan
    run: str | None
    outcomes: list[WriteOutcome] = field(default_factory=list)
    dry_run: bool = False
    expires: float | None = None


@dataclass
class RollbackResult:
    """A rollback (or release) run: which run it undid and the outcome of each restore."""

    run: str
    rolled_back: str
    outcomes: list[WriteOutcome]
    planned: list[dict[str, Any]]


class Session:
    """One site and home, with the registry, journal, event bus and connections they need."""

    def __init__(
        self,
        site_path: str | os.PathLike[str],
        home: str | os.PathLike[str],
        *,
        warn: Callable[[str], None] | None = None,
        pm: SmartbuildPluginManager | None = None,
    ) -> None:
        self.site_path = Path(site_path)
        self.home = Path(home)
        self.warn: Callable[[str], None] = warn or (lambda message: None)
        self.observers: list[Observer] = []  # in-process observers of a face (after the journal)
        self._pm = pm
        self._registry: Registry | None = None
        self._site: LoadedSite | None = None
        self._devices: dict[str, Device] | None = None
        self._used: dict[str, Any] | None = None  # the site's templates, from the config cache
        self._site_templates: list[tuple[list[Path], str, str]] = []
        self._entry: CacheEntry | None = _UNSET  # the config cache entry, when it is fresh
        self._plain: PlainSite | None = _UNSET  # its plain view, for reads
        self._warned = False  # the cached registry warnings were said
        self._journal: Journal | None = None
        self._conns: Connections | None = None

    # ---- what the session holds ------------------------------------------------------------
    @property
    def pm(self) -> SmartbuildPluginManager:
        """Return the plugin manager, loading plugins on first use."""
        if self._pm is None:
            from smartbuild.services.plugins import get_plugin_manager

            self._pm = get_plugin_manager(warn=self.warn)
        return self._pm

    @property
    def registry(self) -> Registry:
        """Return the one registry: transports, shipped, plugin and site-local templates."""
        if self._registry is None:
            from smartbuild.services.registry import build_registry

            self._registry = build_registry(self.pm)
            self._registry.deferred.extend(self._site_templates)
        return self._registry

    def full_registry(self) -> Registry:
        """Return the registry with the site's own templates, when there is a valid site file.

        An invalid site file is reported as a warning: discovery is how people repair one.
        """
        from smartbuild.errors import ConfigError

        if self.site_path.exists():
            try:
                self.site()
            except ConfigError as error:
                self.warn(f"site file not used ({error.lines()[0]})")
        return self.registry

    def site(self) -> LoadedSite:
        """Return the validated site file (loaded once per session or reload).

        A site validated before with unchanged files comes from the config cache (config/cache.py)
        with the templates its devices use; anything else is loaded and validated in full.
        """
        if self._site is None:
            entry = self._cache_entry()
            hit = entry.site() if entry is not None else None
            if hit is not None:
                self._site, self._used = hit["site"], hit["templates"]
                self._site_templates = hit["site_templates"]
                if self._registry is not None:
                    self._registry.deferred.extend(self._site_templates)
                self._say(hit["warnings"])
                return self._site
            self._site = self._load_site()
        return self._site

    def _cache_entry(self) -> CacheEntry | None:
        """Return the site's config cache entry when nothing it was built from changed."""
        if self._entry is _UNSET:
            from smartbuild.config import cache

            self._entry = cache.load_entry(self.home, self.site_path)
        return self._entry

    def _say(self, warnings: Sequence[str]) -> None:
        """Say the registry warnings of a cached site once per session."""
        if not self._warned:
            self._warned = True
            for warning in warnings:
                self.warn(warning)

    def plain_site(self) -> PlainSite | None:
        """Return the site's plain-data devices from the config cache (services/plainsite.py).

        None when the cache has none (first run, changed files, SMARTBUILD_NO_CACHE) or the
        validated site is loaded already: use ``devices()`` then. Reading through it imports no
        schema; it serves reads only.
        """
        if self._plain is _UNSET:
            self._plain = None
            entry = self._cache_entry() if self._site is None else None
            if entry is not None:
                self._plain = entry.plain()
                if self._plain is not None:
                    self._say(self._plain.warnings)
        return self._plain

    def _load_site(self) -> LoadedSite:
        from smartbuild.config import cache
        from smartbuild.config.site import load_site

        registry = self._registry
        if registry is None:
            from smartbuild.services.registry import build_registry

            registry = self._registry = build_registry(self.pm)
        complete = not registry.templates_loaded  # else template files go unrecorded
        with cache.recording() as record:
            loaded = load_site(self.site_path, registry)
            used = {s.template: registry.template(s.template) for s in loaded.site.devices.values()}
        for warning in registry.warnings:
            self.warn(warning)
        if complete and cache.enabled():
            base = loaded.path.parent
            local = [([base / p for p in loaded.site.templates], "site", str(loaded.path))]
            payload = {"site": loaded, "templates": used, "warnings": list(registry.warnings),
                       "site_templates": local if loaded.site.templates else []}  # fmt: skip
            from smartbuild.services.plainsite import plain_site

            plain = plain_site(loaded.site, registry, used, registry.warnings)
            cache.store(self.home, self.site_path, record, payload, plain)
        return loaded

    @property
    def journal(self) -> Journal:
        """Return the journal of the home directory (opened on first use)."""
        if self._journal is None:
            from smartbuild.journal import Journal

            self._journal = Journal(self.home)
        return self._journal

    def reload(self) -> None:
        """Forget plugins, templates and the site: the next use validates the files again."""
        self._pm = None
        self._registry = None
        self._site = None
        self._devices = None
        self._used = None
        self._site_templates = []
        self._entry = self._plain = _UNSET
        self._warned = False

    @property
    def conns(self) -> Connections:
        """Return the transports of this session (opened on first use, closed by aclose)."""
        if self._conns is None:
            from smartbuild.services.connections import Connections

            self._conns = Connections(self._transport_entry, self.warn)
        return self._conns

    def _transport_entry(self, name: str) -> Entry:
        """Return a transport's class and provenance: from the plain site, else the registry."""
        plain = self._plain if self._plain is not _UNSET else None
        if plain is not None and name in plain.transports:
            return plain.transports[name]
        return self.registry.transport_entry(name)

    async def aclose(self) -> None:
        """Close every transport (connections, buses); the session can be used again after."""
        if self._conns is not None:
            conns, self._conns = self._conns, None
            await conns.aclose()

    def close(self) -> None:
        """Close the journal."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # ---- the event bus -----------------------------------------------------------------------
    def record(self, event: Event) -> None:
        """Journal an event (committed before returning), then tell every observer.

        A journal failure raises: the caller must not go on to write. An observer that fails is
        reported as a warning and never stops the run.
        """
        if event.kind != "discovered":  # discovery is not an action on equipment
            self.journal.record(event)
        for impl in self.pm.hook.track_event.get_hookimpls():
            try:
                impl.function(event=event, session=self)
            except Exception as error:
                self.warn(f"plugin {impl.plugin_name!r} failed to observe {event.kind}: "
                          f"{type(error).__name__}: {error}")  # fmt: skip
        for observer in self.observers:
            try:
                observer(event)
            except Exception as error:
                self.warn(f"an observer failed on {event.kind}: {type(error).__name__}: {error}")

    # ---- devices -----------------------------------------------------------------------------
    def devices(self) -> dict[str, Device]:
        """Return every enabled device of the site with its template resolved."""
        from smartbuild.model.device import Device

        if self._devices is None:  # derived from the site once per session (or reload)
            loaded = self.site()
            template = self._used.__getitem__ if self._used is not None else self.registry.template
            self._devices = {
                dev_id: Device(dev_id, spec, template(spec.template))
                for dev_id, spec in loaded.site.devices.items()
                if spec.enabled
            }
        return dict(self._devices)

    def device_ids(self) -> list[str]:
        """Return the ids of the enabled devices (from the plain site when the cache has one)."""
        plain = self.plain_site()
        return list(plain.members if plain is not None else self.devices())

    def select(
        self, ids: Sequence[str] = (), zones: Sequence[str] = (), *, plain: bool = False
    ) -> list[Device]:
        """Return the devices named, or those in the zones given, or all of them.

        ``plain=True`` (reads only): take them from the plain site when it holds every device
        chosen (see ``plain_site``); same choice, same errors.
        """
        view = self.plain_site() if plain else None
        if view is not None:
            chosen = choose(ids, zones, view.members, view.zones)
            if all(dev_id in view.devices for dev_id in chosen):
                return [view.devices[dev_id] for dev_id in chosen]
        devices = self.devices()
        members = {dev_id: device.spec.zone for dev_id, device in devices.items()}
        return [devices[dev_id] for dev_id in choose(ids, zones, members, self.site().site.zones)]

    # ---- operations ----------------------------------------------------------------------------
    def plan_discovery(self, flags: Mapping[str, Mapping[str, Any]]) -> dict[str, DiscoverOptions]:
        """Return the transports to run and their typed options, from flag values by transport."""
        from smartbuild.services.discovery import plan_discovery

        plans = plan_discovery(self.registry, flags)
        if not plans:
            raise UsageError("nothing to discover", hint="name a transport to discover with")
        return plans

    async def discover(
        self,
        plans: Mapping[str, DiscoverOptions],
        result: DiscoveryResult | None = None,
        debug: Callable[[str], None] | None = None,
    ) -> DiscoveryResult:
        """Run discovery on every planned transport; identify and merge what it finds."""
        from smartbuild.services.discovery import Discovery

        def identify(candidate: Any, templates: Any) -> Any:
            return self.pm.hook.identify_device(candidate=candidate, templates=templates)

        return await Discovery(self.registry, identify, result, debug).run(self.conns, plans)

    async def read(self, requests: Sequence[tuple[Device, Sequence[str]]]) -> ReadResult:
        """Read several devices concurrently."""
        for device, names in requests:
            for name in names:
                device.point(name)
        by_device = await self.conns.read_many(requests)
        readings = [r for d, _ in requests for r in by_device[d.id]]
        return ReadResult(readings, self.conns.stats())

    def watch(
        self,
        devices: Sequence[Device],
        *,
        interval: float | None = None,
        count: int | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[list[Reading]]:
        """Yield refreshed readings (and pushed values) until count refreshes or the deadline."""
        from smartbuild.services.watch import watch_readings

        return watch_readings(
            self.conns, devices, interval=interval, count=count, deadline=deadline
        )

    def profile_dirs(self) -> list[Path]:
        """Return the site's own profile directories."""
        if not self.site_path.exists():
            return []
        loaded = self.site()
        return [loaded.path.parent / p for p in loaded.site.profiles]

    def load_profile(self, ref: str) -> tuple[Any, Path]:
        """Return a profile (by file or shipped/site name) and its path."""
        from smartbuild.profiles.loading import load_profile, resolve_profile

        path = resolve_profile(ref, self.profile_dirs())
        return load_profile(path), path

    def moment(self, text: str | None) -> dt.datetime:
        """Return the moment to plan for: now in the site's timezone, or the text (site-local)."""
        from smartbuild.services.plans import parse_at

        return parse_at(text, self.site().site.timezone)

    async def plan(
        self,
        ref: str,
        at: str | None = None,
        zones: Sequence[str] = (),
        *,
        recovery: RecoveryModel | None = None,
    ) -> LivePlan:
        """Read what a profile needs and plan it for a moment; writes nothing.

        ``recovery`` is what a history of readings taught about the zones' recoveries (the hub
        keeps one); without it optimal start uses its conservative default.
        """
        from smartbuild.services.plans import live_plan

        profile, path = self.load_profile(ref)
        site = self.site().site
        self._check_zone_filters(zones)

        def veto(action: Any, device: Device) -> list[str]:
            results = self.pm.hook.check_action(action=action, device=device, site=site)
            return [str(reason) for result in results for reason in (result or [])]

        live = await live_plan(site, self.devices(), self.conns, profile, self.moment(at),
                               list(zones), veto, recovery)  # fmt: skip
        live.path = str(path)
        return live

    def _check_zone_filters(self, zones: Sequence[str]) -> None:
        """Refuse a zone id or glob that names no zone of the site (exit 2)."""
        import fnmatch

        from smartbuild.suggest import did_you_mean

        known = self.site().site.zones
        for pattern in zones:
            if not fnmatch.filter(known, pattern):
                raise UsageError(
                    f"no zone matches {pattern!r}.{did_you_mean(pattern, known)}",
                    hint="`smartbuild devices` lists the zones of the site",
                )

    def _run(self, command: str, **details: Any) -> Any:  # a Run; typed lazily for start-up
        from smartbuild.services.runs import Run

        run = Run(self.record, command, **details)
        self.last_run = run.id  # what an interrupted face reports (interrupted_summary)
        return run

    def interrupted_summary(self) -> dict[str, Any] | None:
        """Return what the last run of this session changed: written, unknown, how to undo it."""
        from smartbuild.services.rollback import restorable

        if self.last_run is None or self._journal is None:
            return None
        items = restorable(self._journal, self.last_run)
        return {
            "run": self.last_run,
            "written": [f"{i['device']}.{i['point']}" for i in items if i["state"] == "written"],
            "unknown": [f"{i['device']}.{i['point']}" for i in items if i["state"] != "written"],
            "rollback": f"smartbuild rollback {self.last_run}" if items else None,
        }

    last_run: str | None = None

    async def apply(
        self,
        live: LivePlan,
        *,
        confirm: Confirm,
        dry_run: bool = False,
        expires: float | None = None,
        pace_s: float = 0.0,
        command: str | None = None,
    ) -> ApplyResult:
        """Write a plan's changes (after confirm) as one journaled run.

        ``command`` is what the journal shows for the run (the hub says why it applies).
        """
        from smartbuild.model.writes import WriteRequest
        from smartbuild.profiles.loading import file_sha256
        from smartbuild.services.writes import apply_writes

        assert live.profile is not None and live.path is not None
        changes = live.plan.changes()
        if (
            changes
            and not dry_run
            and not confirm(f"write {len(changes)} value(s) to the devices above?")
        ):
            raise SafetyRefusal("nothing written: not confirmed")
        details = {"profile_path": live.path, "profile_sha256": file_sha256(Path(live.path)),
                   "dry_run": dry_run, "expires": expires}  # fmt: skip
        result = ApplyResult(live, None, dry_run=dry_run, expires=expires)
        with self._run(command or f"profile apply {live.profile.profile}", **details) as run:
            result.run = run.id
            for action in live.plan.actions:
                if action.status == "blocked":
                    run.emit("refused", action.device, action.point, before=action.current,
                             requested=action.target, message="; ".join(action.blocked_by))  # fmt: skip
            if dry_run or not changes:
                run.status = "dry-run" if dry_run else "ok"
                return result
            requests = [
                WriteRequest(live.devices[a.device], a.point, a.target, a.reason) for a in changes
            ]
            result.outcomes = await apply_writes(
                run, self.conns, requests, pace_s=pace_s, lease=self._lease(run)
            )
            run.status = run_status(result.outcomes)
        return result

    async def write(
        self, device: Device, point: str, value: Any, *, confirm: Confirm, command: str
    ) -> tuple[str, WriteOutcome]:
        """Write one point (after confirm) as a journaled run."""
        from smartbuild.model.writes import WriteRequest
        from smartbuild.services.writes import bounds_problems

        problems = bounds_problems(device, point, value)
        if problems:
            raise SafetyRefusal("refused: " + "; ".join(problems), hint="nothing was written")
        spec = device.point(point)
        unit = f" {spec.unit}" if spec.unit else ""
        if not confirm(
            f"write {value}{unit} to {device.id}.{point} ({device.transport} {device.spec.address})?"
        ):
            raise SafetyRefusal("nothing written: not confirmed")
        from smartbuild.services.writes import apply_writes

        with self._run(command) as run:
            (outcome,) = await apply_writes(
                run,
                self.conns,
                [WriteRequest(device, point, value, "manual write")],
                lease=self._lease(run),
            )
            run.status = run_status([outcome])
        return run.id, outcome

    async def commission(self, options: Any, progress: Any = None) -> dict[str, Any]:
        """Run the commissioning checks as one journaled run; return the report document."""
        from smartbuild.services.commission import commission

        return await commission(self, options, progress)

    def commission_report(self, run_ref: str) -> dict[str, Any]:
        """Return the report a commission run stored in the journal, with the run's entries."""
        from smartbuild.services.commission.stored import load_report

        return load_report(self.journal, run_ref)

    def resolve_undo(self, run_ref: str | None, last: bool) -> str:
        """Return the run a rollback should undo (RUN_ID prefix, or the last one that wrote)."""
        from smartbuild.services.rollback import last_undoable, rolled_back

        journal = self.journal
        if last:
            # the newest run that is not itself a rollback; if that one is undone already, say so
            # rather than undo the rollback or reach further back: `rollback --last --yes` run twice
            # (a retried cron job) must change nothing the second time
            run_id = last_undoable(journal)
            if run_id is None:
                raise UsageError("no run in the journal wrote anything")
            if run_id in rolled_back(journal):
                raise UsageError(
                    f"the last run that wrote something, {run_id}, is rolled back already",
                    hint="`smartbuild log` lists runs; name a RUN_ID to roll back another one",
                )
            return run_id
        if run_ref:
            return journal.resolve_run(run_ref)
        raise UsageError("name a RUN_ID or pass --last", hint="`smartbuild log` lists runs")

    def undo_plan(self, run_id: str) -> list[dict[str, Any]]:
        """Return what rolling back a run would restore: device, point, before, requested, state."""
        from smartbuild.services.rollback import restorable

        items = restorable(self.journal, run_id)
        if not items:
            raise UsageError(f"run {run_id} wrote nothing: there is nothing to roll back")
        devices = self.devices()
        missing = sorted({i["device"] for i in items if i["device"] not in devices})
        if missing:
            raise UsageError(
                f"devices of run {run_id} are no longer in the site: {', '.join(missing)}"
            )
        return items

    async def rollback(
        self, run_id: str, *, confirm: Confirm, force: bool = False, kind: str = "rollback"
    ) -> RollbackResult:
        """Restore what a run changed where the device still holds what it wrote (else conflict)."""
        from smartbuild.model.writes import WriteRequest
        from smartbuild.services.writes import apply_writes

        items = self.undo_plan(run_id)
        if not confirm(f"restore {len(items)} value(s) of run {run_id}?"):
            raise SafetyRefusal("nothing written: not confirmed")
        devices = self.devices()
        requests = [
            WriteRequest(
                devices[i["device"]],
                i["point"],
                i["before"],
                f"{kind} of run {run_id}",
                expect_before=i["requested"],
                check_expect=not force,
                undo=True,
            )
            for i in items
        ]
        with self._run(f"{kind} {run_id}", parent_run=run_id, kind=kind) as run:
            outcomes = await apply_writes(run, self.conns, requests, lease=self._lease(run))
            run.status = "ok" if all(o.status.ok for o in outcomes) else "partial"
        return RollbackResult(run.id, run_id, outcomes, items)

    def overrides(self, now: float | None = None) -> list[dict[str, Any]]:
        """Return the overrides (profile apply --for) still in force."""
        from smartbuild.services.rollback import active_overrides

        return active_overrides(self.journal, now)

    async def release(self, run_id: str) -> RollbackResult:
        """Release an expired override: restore where devices still hold what it wrote."""
        return await self.rollback(run_id, confirm=lambda question: True, kind="release")

    def _lease(self, run: Any) -> Callable[[str], Any]:
        journal = self.journal

        async def lease(device_id: str) -> Callable[[], Any]:
            import asyncio
            import contextlib

            # the lease row is committed in a worker thread: a cancellation must not orphan it
            taking = asyncio.ensure_future(
                journal.acquire_lease_async(
                    device_id, run.id, run.command, wait_s=self.lease_wait_s
                )
            )
            try:
                held = await asyncio.shield(taking)
            except asyncio.CancelledError:
                # not taken (held elsewhere) means nothing to give back
                with contextlib.suppress(Exception):
                    await journal.release_lease_async(await taking)
                raise

            async def release() -> None:
                await journal.release_lease_async(held)

            return release

        return lease

    lease_wait_s: float = 0.0


def run_status(outcomes: Sequence[WriteOutcome]) -> str:
    """Return a run's status from its outcomes: ok, partial or failed."""
    if all(o.status.ok for o in outcomes):
        return "ok"
    if not any(o.status.ok for o in outcomes):
        return "failed"
    return "partial"


def choose(
    ids: Sequence[str],
    zones: Sequence[str],
    members: Mapping[str, str | None],
    known_zones: Collection[str],
) -> list[str]:
    """Return the device ids named, then those in the zones given, or all (``members``: zones)."""
    from smartbuild.suggest import did_you_mean

    for zone in zones:
        if zone not in known_zones:
            raise UsageError(f"unknown zone {zone!r}.{did_you_mean(zone, known_zones)}")
    chosen: list[str] = []
    for dev_id in ids:
        if dev_id not in members:
            raise UsageError(
                f"unknown device {dev_id!r}.{did_you_mean(dev_id, members)}",
                hint="`smartbuild devices` lists the devices of the site",
            )
        if dev_id not in chosen:
            chosen.append(dev_id)
    if zones:
        chosen.extend(d for d, zone in members.items() if zone in zones and d not in chosen)
    if not ids and not zones:
        chosen = list(members)
    return chosen

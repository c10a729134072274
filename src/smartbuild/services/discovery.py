"""Discovery across transport families: run each asked-for transport, identify, merge, follow."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal, SmartbuildError

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.device import Candidate
    from smartbuild.services.connections import Connections
    from smartbuild.services.registry import Registry
    from smartbuild.transports.base import DiscoverOptions


@dataclass
class DiscoveryResult:
    """What a discovery found, by merge key, and what went wrong per transport."""

    found: dict[str, Candidate] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # the exit status of each error
    progress: dict[str, str] = field(default_factory=dict)  # transport -> latest progress text
    seconds: float = 0.0


def discoverers(registry: Registry) -> dict[str, type[DiscoverOptions]]:
    """Return every registered transport that can discover, with its options class."""
    return {
        name: entry.value.discover_options
        for name, entry in registry.transports.items()
        if entry.value.discover_options is not None
    }


def plan_discovery(
    registry: Registry, flags: Mapping[str, Mapping[str, Any]]
) -> dict[str, DiscoverOptions]:
    """Return the options of each transport to run, from flag values by transport and field.

    The transports whose activating flag was given run; with none given, those that run by
    default (the ones that need no targets) do.
    """
    options = {
        name: cls.from_flags(flags.get(name, {})) for name, cls in discoverers(registry).items()
    }
    asked = {name: o for name, o in options.items() if o.active()}
    if not asked:
        asked = {name: o for name, o in options.items() if type(o).BY_DEFAULT}
    for o in asked.values():
        o.check()  # refusals (a sweep too large) before anything is sent
    return asked


class Discovery:
    """Collects candidates from transports, identifies and merges them."""

    def __init__(
        self,
        registry: Registry,
        identify: Callable[[Candidate, Mapping[str, Template]], Any],
        result: DiscoveryResult | None = None,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self.registry = registry
        self.debug = debug or (lambda text: None)
        self.templates = registry.template_values()
        self._identify = identify
        self.result = result or DiscoveryResult()

    def add(self, candidate: Candidate) -> None:
        """Identify and record a candidate (a later report of the same device merges in)."""
        if not candidate.family:
            family = self.registry.family_of(candidate.transport)
            candidate = dataclasses.replace(candidate, family=family.name if family else "")
        if not candidate.template:
            match = self._identify(candidate, self.templates)
            if match:
                template, how = match
                candidate = dataclasses.replace(candidate, template=template, matched_by=how)
        old = self.result.found.get(candidate.key)
        if old is not None:
            candidate = dataclasses.replace(
                candidate,
                identity={**old.identity, **candidate.identity},
                extra={**old.extra, **candidate.extra},
                template=candidate.template or old.template,
                matched_by=candidate.matched_by or old.matched_by,
                name=candidate.name or old.name,
            )
        self.result.found[candidate.key] = candidate

    async def run(
        self, conns: Connections, plans: Mapping[str, DiscoverOptions]
    ) -> DiscoveryResult:
        """Run the planned transports concurrently, then follow endpoints candidates announced."""
        from smartbuild.transports.base import DiscoverContext

        started = time.monotonic()
        refusals: list[SafetyRefusal] = []

        async def one(name: str, options: DiscoverOptions) -> None:
            def progress(text: str) -> None:
                self.result.progress[name] = text

            context = DiscoverContext(self.templates, progress, debug=self.debug)
            try:
                await conns.transport(name).discover(options, context, self.add)
            except SafetyRefusal as error:
                refusals.append(error)
            except SmartbuildError as error:  # one transport failing must not stop the others
                self.result.errors.append(
                    f"{name}: {error.message}" + (f" ({error.hint})" if error.hint else "")
                )
                self.result.statuses.append(int(error.exit_status))

        await asyncio.gather(*(one(n, o) for n, o in plans.items()))
        if refusals:
            raise refusals[0]
        endpoints: dict[str, set[str]] = {}
        for candidate in list(self.result.found.values()):
            for transport, addresses in (candidate.extra.get("endpoints") or {}).items():
                endpoints.setdefault(transport, set()).update(addresses)
        for transport, addresses in sorted(endpoints.items()):
            entry = self.registry.transports.get(transport)
            if entry is None:
                continue
            follow = entry.value.follow_options(sorted(addresses), plans.get(transport))
            if follow is not None:
                await one(transport, follow)
        self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

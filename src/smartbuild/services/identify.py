"""Builtin identification (a plugin): match a candidate to the templates of its family.

A template matches when every rule it gives matches; among matches the one with the most rules wins
(the most specific), so a vendor-wide template yields to a model-specific one. The rules and how
they match belong to each transport family (``TransportFamily.match``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from smartbuild.hookspecs import hookimpl

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.device import Candidate


@hookimpl
def identify_device(
    candidate: Candidate, templates: Mapping[str, Template]
) -> tuple[str, str] | None:
    """Return (template, how) for the most specific template whose rules all match."""
    best: tuple[int, str, str] | None = None
    # discovery sets the family; a bare candidate's transport name starts with it (modbus-tcp)
    wanted = candidate.family or candidate.transport.split("-", 1)[0]
    for name, template in templates.items():
        family = type(template).family
        if family is None or template.identify is None or template.transport != wanted:
            continue
        matched = family.match(template, candidate)
        if matched and (best is None or len(matched) > best[0]):
            best = (len(matched), name, ", ".join(matched))
    return (best[1], best[2]) if best else None

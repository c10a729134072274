"""The mDNS template format: TXT-record points and service identification."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from smartbuild.config.schema import Closed, PointSpec, Template, ValueKind


class MdnsRules(Closed):
    """An mDNS service type plus TXT regexes that identify this template."""

    type: str
    txt: dict[str, str] = Field(default_factory=dict)
    name: str | None = None


class MdnsIdentify(Closed):
    """The ``identify:`` block of an mDNS template."""

    mdns: MdnsRules | None = None


class MdnsPoint(PointSpec):
    """A value announced in a TXT record: a number (scaled) or, with ``type: string``, text."""

    txt: str | None = None
    type: Literal["number", "string"] = "number"

    def value_kind(self) -> ValueKind:
        """Return text for string points."""
        return "text" if self.type == "string" else "number"


class MdnsTemplate(Template):
    """An mDNS/DNS-SD device template."""

    transport: Literal["mdns"]
    identify: MdnsIdentify | None = None
    points: dict[str, MdnsPoint] = Field(default_factory=dict)  # type: ignore[assignment]

    family: ClassVar[Any] = None  # set by smartbuild.transports.mdns.family

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return points without a TXT key."""
        return [f"{name!r}: an mDNS point needs 'txt'" for name, p in points.items() if not p.txt]

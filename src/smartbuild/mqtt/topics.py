"""The topic layout of a site on the broker, and the JSON a point's state is published as.

::

    smartbuild/<site>/status                    online | offline (retained; the last will)
    smartbuild/<site>/hub                       hub info: version, devices, health (retained)
    smartbuild/<site>/events                    runs and routine events (JSON, not retained)
    smartbuild/<site>/fleet/request             fleet requests (MQTT 5 response topic + correlation)
    smartbuild/<site>/<device>/availability     online | offline (retained)
    smartbuild/<site>/<device>/<point>          state: value, unit, timestamp, quality (retained)
    smartbuild/<site>/<device>/<point>/set      commands: 22, on, an enum label or {"value": 22}
    smartbuild/<site>/<device>/<point>/result   the outcome of each command
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.model.device import Reading

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def ha_id(*parts: str) -> str:
    """Return an id Home Assistant accepts: parts joined by '_', anything outside [a-zA-Z0-9_-] → '_'."""
    return _UNSAFE.sub("_", "_".join(parts))


def segment(text: str) -> str:
    """Return text usable as one topic level (no '/', '+', '#' or NUL)."""
    return re.sub(r"[/+#\x00]", "_", text)


@dataclass(frozen=True)
class Topics:
    """The topics of one site under a base topic."""

    site: str
    base: str = "smartbuild"

    @property
    def root(self) -> str:
        """Return ``<base>/<site>``."""
        return f"{self.base}/{segment(self.site)}"

    @property
    def status(self) -> str:
        """Return the site's availability topic."""
        return f"{self.root}/status"

    @property
    def hub(self) -> str:
        """Return the retained hub-info topic."""
        return f"{self.root}/hub"

    @property
    def events(self) -> str:
        """Return the events topic."""
        return f"{self.root}/events"

    @property
    def fleet_request(self) -> str:
        """Return the topic fleet requests for this site arrive on."""
        return f"{self.root}/fleet/request"

    @property
    def sync(self) -> str:
        """Return the topic the bridge echoes to itself to know retained messages have arrived."""
        return f"{self.root}/sync"

    def availability(self, device: str) -> str:
        """Return a device's availability topic."""
        return f"{self.root}/{segment(device)}/availability"

    def state(self, device: str, point: str) -> str:
        """Return a point's state topic."""
        return f"{self.root}/{segment(device)}/{segment(point)}"

    def set(self, device: str, point: str) -> str:
        """Return a point's command topic."""
        return f"{self.state(device, point)}/set"

    def result(self, device: str, point: str) -> str:
        """Return a point's command-result topic."""
        return f"{self.state(device, point)}/result"

    @property
    def set_filter(self) -> str:
        """Return the subscription that receives every command of the site."""
        return f"{self.root}/+/+/set"

    def parse_set(self, topic: str) -> tuple[str, str] | None:
        """Return (device, point) of a command topic of this site, else None."""
        prefix = f"{self.root}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix) : -len("/set")].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 else None


def timestamp(seconds: float) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds."""
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def state_payload(reading: Reading) -> dict[str, Any]:
    """Return the retained state of a point: value, unit, timestamp, quality (and label, error)."""
    data: dict[str, Any] = {
        "value": reading.value if reading.ok else None,
        "unit": reading.unit,
        "timestamp": timestamp(reading.time),
        "quality": "good" if reading.ok else "bad",
    }
    if reading.text is not None:
        data["text"] = reading.text
    if reading.error is not None:
        data["error"] = reading.error
    return data

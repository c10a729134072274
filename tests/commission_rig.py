"""A small site of real Modbus thermostats for the commissioning tests: some sound, some faulty."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit, loopback_hosts
from tests.rigs import FarmThread, farm_thread

ACME = {"VendorName": "ACME", "ProductCode": "TH-200", "MajorMinorRevision": "1.4"}
SLOW_TEMPLATE = """\
template: slow-th
title: Slow-settling thermostat
transport: modbus
identify:
  modbus: {vendor_name: "^SLOW", product_code: "^TH-200"}
defaults: {address_base: 0, word_order: ABCD, settle: 4}
points:
  room_temperature: {table: input, address: 0, type: int16, scale: 0.1, unit: "°C", role: zone_air_temperature}
  heating_setpoint: {table: holding, address: 10, type: int16, scale: 0.1, unit: "°C", role: heating_setpoint, writable: true, min: 5, max: 30}
  cooling_setpoint: {table: holding, address: 11, type: int16, scale: 0.1, unit: "°C", role: cooling_setpoint, writable: true, min: 18, max: 35}
"""


def thermostat(room: int = 215, identity: dict[str, str] | None = None, **kw: object) -> SimUnit:
    """An acme-th200 holding 21.5 °C room, 20/26 °C setpoints, heat mode (registers as given)."""
    return SimUnit(1, input={0: room, 1: 450}, holding={10: 200, 11: 260, 12: 1},
                   discrete={0: True}, identity=identity or ACME, **kw)  # type: ignore[arg-type]  # fmt: skip


@dataclass
class Rig:
    """The farm, the site file, and where each device listens."""

    farm: FarmThread
    site: Path
    where: dict[str, tuple[str, int]]

    def holding(self, device: str, address: int) -> int:
        """Return a holding register of a device as it holds it now."""
        host, port = self.where[device]
        return int(self.farm.get(host, port, 1, "holding", address)[0])

    def writes(self) -> int:
        """Return the write requests every server received."""
        return sum(self.farm.stats(f"{h}:{p}").writes() for h, p in self.where.values())


@contextmanager
def commission_site(
    tmp_path: Path, units: dict[str, tuple[SimUnit, str]], base: str = "127.0.40.1"
) -> Iterator[Rig]:
    """Serve each device's unit on its own host; write a site file (template per device)."""
    hosts = loopback_hosts(len(units), base)
    specs: Sequence[ServerSpec] = [ServerSpec(h, [u], port=0)
                                   for h, (u, _) in zip(hosts, units.values(), strict=True)]  # fmt: skip
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "slow-th.yaml").write_text(SLOW_TEMPLATE)
    with farm_thread(specs) as farm:
        lines = ["site: commission-test", "timezone: Europe/Berlin", "templates: [templates]",
                 "zones:", "  z1: {building: main, floor: 1, area_m2: 40, tags: [office]}",
                 "devices:"]  # fmt: skip
        where = {}
        for (name, (_, template)), (host, port) in zip(units.items(), farm.endpoints, strict=True):
            where[name] = (host, port)
            lines.append(f"  {name}: {{template: {template}, transport: modbus-tcp, "
                         f'address: "{host}:{port}", unit: 1, zone: z1, timeout: 0.3, retries: 0}}')  # fmt: skip
        site = tmp_path / "site.yaml"
        site.write_text("\n".join(lines) + "\n")
        yield Rig(farm, site, where)

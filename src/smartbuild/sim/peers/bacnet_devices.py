"""Simulated BACnet/IP controllers on loopback: a VAV box and an AHU, each its own application.

Each device listens on its own UDP port (bacpypes3 takes a 127.x destination on its own port for
itself, so devices never share a port with each other or with a client). Objects are real
bacpypes3 local objects: commandable ones keep a priority array, inputs refuse writes, values
changed with ``set`` send change-of-value notifications to subscribers. Switches make a device
misbehave for tests: ``rpm=False`` rejects ReadPropertyMultiple, ``segmentation=False`` aborts
answers too long for one frame, ``cov=False`` rejects SubscribeCOV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

VENDOR = "ACME Controls"


@dataclass(frozen=True)
class SimObject:
    """One object: type, instance, name, value, units, commandable, state texts."""

    type: str
    instance: int
    name: str
    value: Any
    units: str | None = None
    commandable: bool = False
    states: tuple[str, ...] = ()


@dataclass
class SimBacnetDevice:
    """A device to serve: identity, where it listens and its objects."""

    instance: int
    name: str
    model: str
    host: str
    port: int
    objects: Sequence[SimObject]
    firmware: str = "2.4.1"
    rpm: bool = True
    segmentation: bool = True
    cov: bool = True
    app: Any = field(default=None, repr=False)
    by_name: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def address(self) -> str:
        """Return HOST:PORT."""
        return f"{self.host}:{self.port}"


def vav_box(host: str, port: int, instance: int = 1001) -> SimBacnetDevice:
    """Return a VAV box controller: zone temperature, setpoints, damper, occupancy, fan mode."""
    return SimBacnetDevice(instance, f"VAV-{instance}", "VAV-B1", host, port, (
        SimObject("analog-input", 1, "zone-temp", 21.0, "degrees-celsius"),
        SimObject("analog-value", 1, "heating-setpoint", 20.0, "degrees-celsius", True),
        SimObject("analog-value", 2, "cooling-setpoint", 25.0, "degrees-celsius", True),
        SimObject("analog-output", 1, "damper-position", 30.0, "percent", True),
        SimObject("binary-input", 1, "occupancy-sensor", "inactive"),
        SimObject("multi-state-value", 1, "fan-mode", 1, None, False, ("auto", "low", "high")),
    ))  # fmt: skip


def ahu(host: str, port: int, instance: int = 2001) -> SimBacnetDevice:
    """Return an air-handling unit: supply and outdoor air, supply setpoint, fan speed, enable."""
    return SimBacnetDevice(instance, f"AHU-{instance}", "AHU-B1", host, port, (
        SimObject("analog-input", 1, "supply-air-temp", 16.0, "degrees-celsius"),
        SimObject("analog-input", 2, "outdoor-air-temp", 8.0, "degrees-celsius"),
        SimObject("analog-value", 1, "supply-air-temp-setpoint", 16.0, "degrees-celsius", True),
        SimObject("analog-output", 1, "fan-speed-cmd", 60.0, "percent", True),
        SimObject("binary-output", 1, "fan-enable", "active", None, True),
    ))  # fmt: skip


def _classes() -> dict[tuple[str, bool], Any]:
    from bacpypes3.errors import PropertyError
    from bacpypes3.local.analog import (
        AnalogInputObject,
        AnalogOutputObject,
        AnalogValueObject,
        AnalogValueObjectCmd,
    )
    from bacpypes3.local.binary import BinaryInputObject, BinaryOutputObject, BinaryValueObject
    from bacpypes3.local.multistate import MultiStateInputObject, MultiStateValueObject

    class ReadOnly:
        """Inputs refuse writes to present-value, as field devices do."""

        async def write_property(
            self, attr: Any, value: Any, index: Any = None, priority: Any = None
        ) -> None:
            if attr in ("presentValue", 85):
                raise PropertyError("write-access-denied")
            await super().write_property(attr, value, index, priority)  # type: ignore[misc]

    def read_only(cls: Any) -> Any:
        return type(cls.__name__, (ReadOnly, cls), {})

    return {
        ("analog-input", False): read_only(AnalogInputObject),
        ("analog-output", True): AnalogOutputObject,
        ("analog-value", False): AnalogValueObject,
        ("analog-value", True): AnalogValueObjectCmd,
        ("binary-input", False): read_only(BinaryInputObject),
        ("binary-output", True): BinaryOutputObject,
        ("binary-value", False): BinaryValueObject,
        ("multi-state-input", False): read_only(MultiStateInputObject),
        ("multi-state-value", False): MultiStateValueObject,
    }


def _object(obj: SimObject, classes: dict[tuple[str, bool], Any]) -> Any:
    cls = classes[(obj.type, obj.commandable)]
    kwargs: dict[str, Any] = {
        "objectIdentifier": (obj.type, obj.instance),
        "objectName": obj.name,
        "presentValue": obj.value,
        "statusFlags": [0, 0, 0, 0],
    }
    if obj.units is not None:
        kwargs["units"] = obj.units
        kwargs["covIncrement"] = 0.1
    if obj.states:
        kwargs["numberOfStates"] = len(obj.states)
        kwargs["stateText"] = list(obj.states)
    return cls(**kwargs)


async def start(device: SimBacnetDevice) -> SimBacnetDevice:
    """Start serving a device (in the running loop)."""
    from smartbuild.transports.bacnet.stack import open_application

    classes = _classes()
    objects = [_object(o, classes) for o in device.objects]
    app = await open_application(
        device.address, device.instance, device.name, objects, vendorName=VENDOR,
        modelName=device.model, firmwareRevision=device.firmware,
        segmentationSupported="segmented-both" if device.segmentation else "no-segmentation",
        maxApduLengthAccepted=1476 if device.segmentation else 206,
    )  # fmt: skip
    if not (device.rpm and device.cov):
        from bacpypes3.errors import UnrecognizedService

        async def reject(apdu: Any) -> None:
            raise UnrecognizedService()

        if not device.rpm:
            app.do_ReadPropertyMultipleRequest = reject
        if not device.cov:
            app.do_SubscribeCOVRequest = reject
    device.app = app
    device.by_name = {o.name: obj for o, obj in zip(device.objects, objects, strict=True)}
    return device


def get(device: SimBacnetDevice, name: str) -> Any:
    """Return an object's present value."""
    return device.by_name[name].presentValue


def set_value(device: SimBacnetDevice, name: str, value: Any) -> None:
    """Change what an input measures (subscribers get a change-of-value notification)."""
    obj = device.by_name[name]
    if hasattr(obj, "priorityArray"):
        obj.relinquishDefault = value
        obj.recalculating()
    else:
        obj.presentValue = value


def stop(device: SimBacnetDevice) -> None:
    """Stop serving (the device disappears from the network)."""
    if device.app is not None:
        app, device.app = device.app, None
        app.close()


async def start_all(devices: Sequence[SimBacnetDevice]) -> list[SimBacnetDevice]:
    """Start several devices; on a failure stop those started and raise."""
    started: list[SimBacnetDevice] = []
    try:
        for device in devices:
            started.append(await start(device))
    except BaseException:
        for device in started:
            stop(device)
        raise
    return started


VAV_PORT, AHU_PORT = 47809, 47810
ROOM_TIME_CONSTANT_S = 1800.0  # the VAV box's room follows its heating setpoint (first order)


class BacnetPlant:
    """The simulator's BACnet devices: a VAV box serving the first zone and the AHU."""

    def __init__(self) -> None:
        self.devices: list[SimBacnetDevice] = []

    async def start(
        self, hosts: Sequence[str], zone: str | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Serve the VAV box and the AHU on two loopback hosts; return their site entries."""
        vav, unit = vav_box(hosts[0], VAV_PORT), ahu(hosts[1], AHU_PORT)
        self.devices = await start_all([vav, unit])
        where = {"zone": zone} if zone else {}
        return [
            ("vav-box", {"template": "acme-vav-b1", "transport": "bacnet-ip", "address": vav.address,
                         "title": "VAV box (BACnet)", **where}),
            ("ahu-bacnet", {"template": "acme-ahu-b1", "transport": "bacnet-ip",
                            "address": unit.address, "title": "AHU (BACnet)"}),
        ]  # fmt: skip

    def state(self) -> dict[str, Any]:
        """Return where the devices listen, for the state file."""
        return {"devices": [{"address": d.address, "instance": d.instance, "model": d.model}
                            for d in self.devices]}  # fmt: skip

    def tick(self, dt_s: float, outdoor_c: float | None) -> None:
        """Advance the VAV box's room toward its heating setpoint; mirror the outdoor air."""
        if len(self.devices) < 2:
            return
        vav, unit = self.devices
        room, target = float(get(vav, "zone-temp")), float(get(vav, "heating-setpoint"))
        share = min(1.0, max(0.0, dt_s) / ROOM_TIME_CONSTANT_S)
        set_value(vav, "zone-temp", round(room + (target - room) * share, 2))
        if outdoor_c is not None:
            set_value(unit, "outdoor-air-temp", round(outdoor_c, 2))

    def close(self) -> None:
        """Stop serving."""
        for device in self.devices:
            stop(device)
        self.devices = []

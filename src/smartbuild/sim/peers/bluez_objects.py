"""D-Bus objects of the simulated BlueZ: adapter, monitor manager, devices and GATT.

The classes follow the BlueZ D-Bus API documents (doc/org.bluez.*.rst in the BlueZ
repository) as far as bleak's BlueZ backend uses them. Behaviour that needs the
whole service (discovery, connections, signal pacing) is delegated to the
controller, :class:`smartbuild.sim.peers.bluez.BlueZService`.
"""

# No ``from __future__ import annotations``: dbus-fast reads the D-Bus signatures
# from the annotations and cannot resolve a postponed ``-> None``.
from typing import TYPE_CHECKING, Annotated, Any

from dbus_fast import DBusError, PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
    DBusUInt32,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from smartbuild.sim.peers.adverts import normalize_uuid
from smartbuild.sim.peers.bluez_devices import AttError, SimBleDevice, SimGattChar, SimGattService

if TYPE_CHECKING:
    from smartbuild.sim.peers.bluez import BlueZService, _Dev

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusPathList = Annotated[list[str], DBusSignature("ao")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]

ERR = "org.bluez.Error."
CCCD_UUID = normalize_uuid(0x2902)
USER_DESCRIPTION_UUID = normalize_uuid(0x2901)


def bluez_error(name: str, text: str) -> DBusError:
    """Return an ``org.bluez.Error.<name>`` D-Bus error to raise from a method."""
    return DBusError(ERR + name, text)


class AdapterIface(ServiceInterface):
    """org.bluez.Adapter1 of the simulated controller."""

    def __init__(self, ctl: "BlueZService") -> None:
        super().__init__("org.bluez.Adapter1")
        self._ctl = ctl

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict) -> None:
        self._ctl.discovery.set_filter(self._ctl._call("SetDiscoveryFilter"), properties)

    @dbus_method()
    def StartDiscovery(self) -> None:
        self._ctl.discovery.start(self._ctl._call("StartDiscovery"))

    @dbus_method()
    def StopDiscovery(self) -> None:
        self._ctl.discovery.stop(self._ctl._call("StopDiscovery"))

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath) -> None:
        self._ctl._call("RemoveDevice")
        self._ctl._remove_device_object(device)

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return [
            "UUIDs",
            "RSSI",
            "Pathloss",
            "Transport",
            "DuplicateData",
            "Discoverable",
            "Pattern",
        ]

    @dbus_property(PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._ctl.adapter_address

    @dbus_property(PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return "smartbuild-sim"

    @dbus_property(PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return "smartbuild-sim"

    @dbus_property(PropertyAccess.READ)
    def Class(self) -> DBusUInt32:
        return 0

    @dbus_property()
    def Powered(self) -> DBusBool:
        return self._ctl.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self._ctl.set_powered(value)

    @dbus_property(PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return False

    @dbus_property(PropertyAccess.READ)
    def Pairable(self) -> DBusBool:
        return True

    @dbus_property(PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self._ctl.discovering

    @dbus_property(PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return [normalize_uuid(0x1800), normalize_uuid(0x1801)]

    @dbus_property(PropertyAccess.READ)
    def Modalias(self) -> DBusStr:
        return "usb:v1D6Bp0246d0548"

    @dbus_property(PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_property(PropertyAccess.READ)
    def ExperimentalFeatures(self) -> DBusStrList:
        return []


class MonitorManagerIface(ServiceInterface):
    """org.bluez.AdvertisementMonitorManager1 (passive scanning)."""

    def __init__(self, ctl: "BlueZService") -> None:
        super().__init__("org.bluez.AdvertisementMonitorManager1")
        self._ctl = ctl

    @dbus_method()
    def RegisterMonitor(self, application: DBusObjectPath) -> None:
        self._ctl.discovery.register_monitor(self._ctl._call("RegisterMonitor"), application)

    @dbus_method()
    def UnregisterMonitor(self, application: DBusObjectPath) -> None:
        self._ctl.discovery.unregister_monitor(self._ctl._call("UnregisterMonitor"), application)

    @dbus_property(PropertyAccess.READ)
    def SupportedMonitorTypes(self) -> DBusStrList:
        return ["or_patterns"]

    @dbus_property(PropertyAccess.READ)
    def SupportedFeatures(self) -> DBusStrList:
        return []


class DeviceIface(ServiceInterface):
    """org.bluez.Device1; use :func:`device_iface` to get one without absent properties."""

    def __init__(self, ctl: "BlueZService", dev: "_Dev") -> None:
        super().__init__("org.bluez.Device1")
        self._ctl = ctl
        self._dev = dev

    @dbus_method()
    async def Connect(self) -> None:
        await self._ctl._connect(self._dev)

    @dbus_method()
    async def Disconnect(self) -> None:
        await self._ctl._disconnect(self._dev)

    @dbus_method()
    async def Pair(self) -> None:
        await self._ctl._pair(self._dev)

    @dbus_method()
    def CancelPairing(self) -> None:
        self._ctl._count("CancelPairing")

    @dbus_property(PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._dev.sim.address

    @dbus_property(PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return self._dev.sim.address_type

    @dbus_property(PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self._dev.sim.name or ""

    @dbus_property(PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        # BlueZ falls back to the address with dashes; bleak relies on that form.
        return self._dev.sim.name or self._dev.sim.address.replace(":", "-")

    @dbus_property(PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return self._ctl.adapter_path

    @dbus_property(PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return self._dev.paired

    @dbus_property(PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return self._dev.paired

    @dbus_property()
    def Trusted(self) -> DBusBool:
        return self._dev.trusted

    @Trusted.setter  # type: ignore[no-redef]
    def Trusted(self, value: DBusBool) -> None:
        self._dev.trusted = value
        self.emit_properties_changed({"Trusted": value})

    @dbus_property()
    def Blocked(self) -> DBusBool:
        return self._dev.blocked

    @Blocked.setter  # type: ignore[no-redef]
    def Blocked(self, value: DBusBool) -> None:
        self._dev.blocked = value
        self.emit_properties_changed({"Blocked": value})

    @dbus_property(PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_property(PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self._dev.connected

    @dbus_property(PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return self._dev.services_resolved

    @dbus_property(PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self._dev.sim.rssi

    @dbus_property(PropertyAccess.READ)
    def TxPower(self) -> DBusInt16:
        return self._dev.sim.tx_power or 0

    @dbus_property(PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return advertised_uuids(self._dev.sim)

    @dbus_property(PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturerData:
        return {k: Variant("ay", v) for k, v in self._dev.sim.manufacturer_data.items()}

    @dbus_property(PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        return {k: Variant("ay", v) for k, v in self._dev.sim.service_data.items()}

    @dbus_property(PropertyAccess.READ)
    def AdvertisingFlags(self) -> DBusBytes:
        return b"\x06"


_DEVICE_CLASSES: dict[tuple[bool, bool], type[DeviceIface]] = {}


def device_iface(ctl: "BlueZService", dev: "_Dev") -> DeviceIface:
    """Return a Device1 object whose optional properties are absent when unset."""
    # BlueZ omits Name and TxPower when the device never sent them, and a getter
    # that raised would break the whole GetManagedObjects reply, so variants
    # with those properties disabled are built once and reused.
    key = (dev.sim.name is not None, dev.sim.tx_power is not None)
    cls = _DEVICE_CLASSES.get(key)
    if cls is None:
        namespace: dict[str, Any] = {}
        for present, prop in zip(key, (DeviceIface.Name, DeviceIface.TxPower), strict=True):
            if not present:
                namespace[prop.name] = dbus_property(PropertyAccess.READ, disabled=True)(
                    prop.prop_getter
                )
        cls = type(f"DeviceIface{int(key[0])}{int(key[1])}", (DeviceIface,), namespace)
        _DEVICE_CLASSES[key] = cls
    return cls(ctl, dev)


def advertised_uuids(sim: SimBleDevice) -> list[str]:
    """Return the UUIDs BlueZ lists for a device (advertised and service-data UUIDs)."""
    uuids = list(sim.service_uuids)
    uuids += [u for u in sim.service_data if u not in uuids]
    return uuids


class GattServiceIface(ServiceInterface):
    """org.bluez.GattService1 of a connected device."""

    def __init__(self, spec: SimGattService, device_path: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._spec = spec
        self._device_path = device_path

    @dbus_property(PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._spec.uuid

    @dbus_property(PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True

    @dbus_property(PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self._device_path

    @dbus_property(PropertyAccess.READ)
    def Includes(self) -> DBusPathList:
        return []


class GattCharIface(ServiceInterface):
    """org.bluez.GattCharacteristic1; notifications are ``Value`` PropertiesChanged."""

    def __init__(
        self, ctl: "BlueZService", dev: "_Dev", spec: SimGattChar, service_path: str
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._ctl = ctl
        self._dev = dev
        self.spec = spec
        self._service_path = service_path
        self.notifying = False

    def _check(self, method: str) -> None:
        self._ctl._count(method)
        self._ctl._take_injected(method)
        if not self._dev.connected:
            raise bluez_error("Failed", "Not connected")

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        self._check("ReadValue")
        if "read" not in self.spec.flags:
            raise bluez_error("NotPermitted", "Read not permitted")
        offset = int(options["offset"].value) if "offset" in options else 0
        if offset > len(self.spec.value):
            raise bluez_error("InvalidOffset", "Invalid offset")
        self._ctl.stats.reads[(self._dev.sim.address, self.spec.uuid)] += 1
        return self.spec.value[offset:]

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        self._check("WriteValue")
        kind = options["type"].value if "type" in options else "request"
        needed = "write-without-response" if kind == "command" else "write"
        if needed not in self.spec.flags:
            raise bluez_error("NotPermitted", "Write not permitted")
        data = bytes(value)
        if self.spec.on_write is not None:
            try:
                replaced = self.spec.on_write(data)
            except AttError as exc:
                # bleak turns this BlueZ text back into BleakGATTProtocolError(code)
                raise bluez_error(
                    "Failed", f"Operation failed with ATT error: {exc.code:#04x}"
                ) from None
            data = data if replaced is None else bytes(replaced)
        self.spec.value = data
        self._ctl.stats.writes[(self._dev.sim.address, self.spec.uuid)] += 1

    @dbus_method()
    def StartNotify(self) -> None:
        self._check("StartNotify")
        if not {"notify", "indicate"} & set(self.spec.flags):
            raise bluez_error("NotSupported", "Operation is not supported")
        if not self.notifying:
            self.notifying = True
            self.emit_properties_changed({"Notifying": True})

    @dbus_method()
    def StopNotify(self) -> None:
        self._check("StopNotify")
        if self.notifying:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})

    @dbus_property(PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.spec.uuid

    @dbus_property(PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service_path

    @dbus_property(PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.spec.value

    @dbus_property(PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying

    @dbus_property(PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return list(self.spec.flags)

    @dbus_property(PropertyAccess.READ)
    def MTU(self) -> DBusUInt16:
        return 247


class GattDescIface(ServiceInterface):
    """org.bluez.GattDescriptor1 (CCCD mirrors Notifying; 0x2901 is the description)."""

    def __init__(self, ctl: "BlueZService", uuid: str, char: GattCharIface, char_path: str) -> None:
        super().__init__("org.bluez.GattDescriptor1")
        self._ctl = ctl
        self._uuid = uuid
        self._char = char
        self._char_path = char_path

    def _value(self) -> bytes:
        if self._uuid == CCCD_UUID:
            return b"\x01\x00" if self._char.notifying else b"\x00\x00"
        return (self._char.spec.description or "").encode()

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        self._ctl._count("ReadDescriptor")
        return self._value()

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        # BlueZ refuses CCCD writes over D-Bus: clients must use StartNotify.
        self._ctl._count("WriteDescriptor")
        raise bluez_error("NotPermitted", "Write not permitted")

    @dbus_property(PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(PropertyAccess.READ)
    def Characteristic(self) -> DBusObjectPath:
        return self._char_path

    @dbus_property(PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._value()

    @dbus_property(PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return ["read"]

"""The BLE family: template format, advert identification and typed discover options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from smartbuild.transports.base import DiscoverOptions, OptionSpec, TransportFamily, option
from smartbuild.transports.ble.schema import BleTemplate

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.checks import Check
    from smartbuild.model.device import Candidate
    from smartbuild.transports.base import DoctorContext


def full_uuid(uuid: str) -> str:
    """Return a 128-bit UUID for a 16-bit short form such as "fcd2" or "0xFCD2"."""
    text = uuid.lower().removeprefix("0x")
    if len(text) == 4:
        return f"0000{text}-0000-1000-8000-00805f9b34fb"
    return text


def match_ble(rules: Any, identity: dict[str, Any]) -> list[str] | None:
    """Return the BLE advert rules that matched, or None."""
    matched = []
    if rules.manufacturer_id is not None:
        if rules.manufacturer_id not in identity.get("manufacturer_ids", []):
            return None
        matched.append(f"manufacturer {rules.manufacturer_id:#06x}")
    for field, key in (
        ("service_uuid", "service_uuids"),
        ("service_data_uuid", "service_data_uuids"),
    ):
        wanted = getattr(rules, field)
        if wanted is None:
            continue
        have = {str(u).lower() for u in identity.get(key, [])}
        if full_uuid(wanted) not in {full_uuid(u) for u in have}:
            return None
        matched.append(f"{field.replace('_', ' ')} {wanted}")
    if rules.name is not None:
        name = identity.get("name")
        if name is None or re.search(rules.name, str(name)) is None:
            return None
        matched.append(f"name ~ {rules.name}")
    if rules.decoder_type is not None:
        if identity.get("decoder_type") != rules.decoder_type:
            return None
        matched.append(f"decoded as {rules.decoder_type}")
    return matched or None


class BleFamily(TransportFamily):
    """Bluetooth LE devices: decoded adverts and GATT characteristics."""

    name = "ble"
    template_schema = BleTemplate
    identity_fields = ("vendor", "model", "firmware")

    @classmethod
    def match(cls, template: Template, candidate: Candidate) -> list[str] | None:
        """Match manufacturer ids, service UUIDs, names and decoder types of the advert."""
        rules = cls.rules(template)
        return None if rules is None else match_ble(rules, candidate.identity)

    @classmethod
    def describe_point(cls, template: Template, point: Any) -> tuple[str, str]:
        """Return the characteristic or advert measurement, and the GATT format."""
        where = f"gatt {point.characteristic}" if point.characteristic else f"advert {point.advert}"
        return where, point.ble_format or point.value_kind()

    @classmethod
    async def doctor(cls, context: DoctorContext) -> list[Check]:
        """Check the system D-Bus, BlueZ, the adapters and passive scanning."""
        from smartbuild.transports.ble.doctor import doctor

        return await doctor(context)


BleTemplate.family = BleFamily


@dataclass(frozen=True)
class BleOptions(DiscoverOptions):
    """A scan for adverts: active, or passive where BlueZ supports it."""

    ACTIVATE: ClassVar[str] = "ble"
    BY_DEFAULT: ClassVar[bool] = True

    ble: bool = option(
        False, spec=OptionSpec(("--ble",), "Scan for Bluetooth LE devices.", is_flag=True)
    )
    adapter: str | None = option(None, spec=OptionSpec(("--adapter",), "BLE adapter, e.g. hci0."))
    passive: bool = option(False, spec=OptionSpec(
        ("--passive",), "BLE passive scanning (BlueZ >= 5.56 with experimental features).",
        is_flag=True))  # fmt: skip
    duration: float | None = option(None, spec=OptionSpec(
        ("--duration",), "BLE scan seconds (default: long enough for the slowest known advertiser).",
        type=float, range=(0.1, 600)))  # fmt: skip
    until: int | None = option(None, spec=OptionSpec(
        ("--until",), "BLE: stop once N devices are found.", type=int, range=(1, None)))  # fmt: skip

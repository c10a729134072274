"""The site's ``mqtt:`` block: which broker the hub's MQTT bridge uses and what it may do there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartbuild.config.fields import SecretText

SCHEMES = ("mqtt", "mqtts")


def check_url(value: str) -> str:
    """Return an mqtt:// or mqtts:// URL as it is; raise ValueError for anything else."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(
            f"broker URL {value!r} must look like mqtt://host:1883 or mqtts://host:8883"
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"broker URL {value!r} has an invalid port") from None
    if parts.password:
        raise ValueError(
            "put the broker password in `password: !secret NAME`, not in the URL "
            "(site files are shared; secrets.yaml is not)"
        )
    return value


class MqttSpec(BaseModel):
    """Where the bridge connects and what it publishes; commands are off unless allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # closed, like every site block

    url: str
    username: str | None = None
    password: SecretText | None = None
    ca_file: str | None = None  # a CA bundle for mqtts:// (relative to the site file)
    client_id: str | None = None
    base_topic: str = Field("smartbuild", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    discovery: bool = True  # Home Assistant MQTT discovery
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+$")
    # commands on …/set and fleet requests write to equipment: off unless the site says so
    commands: bool = False
    rate_limit_s: float = Field(1.0, ge=0, le=3600, allow_inf_nan=False)
    heartbeat_s: float = Field(30.0, ge=1, le=3600, allow_inf_nan=False)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

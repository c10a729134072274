"""Broker settings from a site's ``mqtt:`` block or a URL, and the aiomqtt client they make.

aiomqtt is an optional extra (``pip install 'smartbuild[mqtt]'``): it is imported only when a
client is built, and its absence is a clear error with the install command.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError, UsageError

if TYPE_CHECKING:
    from smartbuild.config.mqtt import MqttSpec

INSTALL_HINT = "install the MQTT extra: pip install 'smartbuild[mqtt]'"
# small MQTT packets must not wait for Nagle's algorithm and a delayed ACK (~40 ms each way)
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def aiomqtt_module() -> Any:
    """Return the aiomqtt module, or raise an error that says how to install it."""
    try:
        import aiomqtt
    except ImportError:
        raise SmartbuildError("the MQTT bridge needs aiomqtt, which is not installed",
                              hint=INSTALL_HINT) from None  # fmt: skip
    return aiomqtt


@dataclass(frozen=True)
class BrokerSettings:
    """Where to connect and as whom; the password stays out of repr and output."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    client_id: str | None = None
    base_topic: str = "smartbuild"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    commands: bool = False
    rate_limit_s: float = 1.0
    heartbeat_s: float = 30.0

    @property
    def display(self) -> str:
        """Return the broker as people see it: scheme, user, host and port (never a password)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> BrokerSettings:
        """Parse ``mqtt[s]://[user[:password]@]host[:port]``; a password may come from $MQTT_PASSWORD."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise UsageError(
                f"broker URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883"
            )
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"broker URL {url!r} has an invalid port") from None
        tls = parts.scheme == "mqtts"
        password = unquote(parts.password) if parts.password else os.environ.get("MQTT_PASSWORD")
        values: dict[str, Any] = {
            "host": parts.hostname,
            "port": port or (8883 if tls else 1883),
            "tls": tls,
            "username": unquote(parts.username) if parts.username else None,
            "password": password if parts.username else None,
        }
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_spec(cls, spec: MqttSpec, base: Path | None = None) -> BrokerSettings:
        """Build settings from the site's ``mqtt:`` block (a CA file is relative to the site file)."""
        from smartbuild.config.secret import reveal_text

        ca = spec.ca_file
        if ca is not None and base is not None and not Path(ca).is_absolute():
            ca = str(base / ca)
        settings = cls.from_url(
            spec.url,
            ca_file=ca,
            client_id=spec.client_id,
            base_topic=spec.base_topic,
            discovery=spec.discovery,
            discovery_prefix=spec.discovery_prefix,
            commands=spec.commands,
            rate_limit_s=spec.rate_limit_s,
            heartbeat_s=spec.heartbeat_s,
        )
        if spec.username is not None:
            settings = replace(settings, username=spec.username)
        if spec.password is not None:
            settings = replace(settings, password=reveal_text(spec.password))
        return settings

    def client(self, *, will: tuple[str, str] | None = None, identifier: str | None = None) -> Any:
        """Return an aiomqtt MQTT 5 client (not connected); ``will`` is (topic, payload), retained."""
        mqtt = aiomqtt_module()
        tls_context = None
        if self.tls:
            import ssl

            if self.ca_file is not None and not Path(self.ca_file).exists():
                raise UsageError(f"CA file not found: {self.ca_file}")
            tls_context = ssl.create_default_context(cafile=self.ca_file)
        client = mqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier or self.client_id,
            protocol=mqtt.ProtocolVersion.V5,
            will=mqtt.Will(will[0], will[1], qos=1, retain=True) if will else None,
            tls_context=tls_context,
            timeout=10,
            keepalive=30,
            socket_options=[NO_DELAY],
        )
        client.pending_calls_threshold = 100_000  # batches of QoS 1 publishes are expected
        return client

"""A real Mosquitto broker on loopback for tests, benchmarks and trials of the MQTT bridge.

:class:`Mosquitto` writes a configuration into a temporary directory (``listener PORT 127.0.0.1``,
no persistence), starts ``mosquitto -c FILE``, waits until the port accepts connections and
terminates it cleanly. With ``users`` it also writes a password file (``mosquitto_passwd -b``)
and an ACL file and refuses anonymous clients. ``restart()`` stops and starts it on the same
port: retained messages are lost, as on a real broker without persistence.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from smartbuild.errors import SmartbuildError

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on host now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class Mosquitto:
    """One broker process: anonymous, or with users (name -> password) and ACL lines."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: Sequence[str] = (),
        tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(users or {})
        self.acl = list(acl)
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="smartbuild-mosquitto-"))
        # started as root, mosquitto drops to its own user, which must read the files here
        self.dir.chmod(0o755)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "mosquitto.log"

    @property
    def url(self) -> str:
        """Return the broker URL without credentials."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """Return the CA certificate that signed the broker's certificate (with ``tls``)."""
        return self.dir / "ca.pem"

    def _make_certificates(self) -> list[str]:
        """Make a CA and a certificate for the broker's address (openssl); return config lines."""
        tool = shutil.which("openssl") or "openssl"
        ca_key, key, csr = self.dir / "ca.key", self.dir / "broker.key", self.dir / "broker.csr"
        cert, ext = self.dir / "broker.pem", self.dir / "san.ext"
        ext.write_text(f"subjectAltName=IP:{self.host}\n")
        for args in () if cert.exists() else (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=smartbuild test CA", "-keyout", ca_key, "-out", self.ca_file],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={self.host}",
             "-keyout", key, "-out", csr],
            ["x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert],
        ):  # fmt: skip
            subprocess.run([tool, *map(str, args)], check=True, capture_output=True, timeout=60)
        for path in (key, cert, self.ca_file):
            path.chmod(0o644)  # mosquitto reads them after dropping root
        return [f"cafile {self.ca_file}", f"certfile {cert}", f"keyfile {key}"]

    def _write_config(self) -> Path:
        lines = [f"listener {self.port} {self.host}", "persistence false",
                 "log_dest stderr", "log_type error", "log_type warning",
                 "max_queued_messages 100000", "set_tcp_nodelay true"]  # fmt: skip
        if self.tls:
            lines += self._make_certificates()
        if self.users:
            passwd = self.dir / "passwd"
            passwd.write_text("")
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for name, password in self.users.items():
                subprocess.run([tool, "-b", str(passwd), name, password], check=True,
                               capture_output=True, timeout=10)  # fmt: skip
            acl = self.dir / "acl"
            acl.write_text("\n".join(self.acl) + "\n")
            for path in (passwd, acl):
                path.chmod(0o644)
            lines += ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"]
        else:
            lines.append("allow_anonymous true")
        config = self.dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start the broker and wait until it accepts connections."""
        if not Path(MOSQUITTO).exists():
            raise SmartbuildError(
                f"{MOSQUITTO} not found", hint="install it: apt-get install -y mosquitto"
            )
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SmartbuildError(f"mosquitto exited at start: {self.log()[-500:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SmartbuildError(f"mosquitto did not listen on {self.host}:{self.port}")

    def log(self) -> str:
        """Return what the broker wrote to its log."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate the broker (SIGTERM) and wait for it; return its exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return proc.returncode

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker, stay down ``down_s`` seconds, start it again on the same port."""
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

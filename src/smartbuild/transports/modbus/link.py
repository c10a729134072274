"""One Modbus link (a TCP connection or a serial line) and the errors a request can end in.

A ``Link`` is shared by every unit behind it and sends one request at a time (many gateways
handle only one), with an optional pause between requests and a delay after connecting. pymodbus
is imported on first use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from smartbuild.transports.modbus.timing import AdaptiveTimeout, frames_of

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
READ_FUNCTIONS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}


class ModbusExceptionResponse(Exception):
    """A device answered with a Modbus exception code."""

    def __init__(self, code: int, function: str, address: int | None = None) -> None:
        self.code = code
        where = f" at PDU address {address}" if address is not None else ""
        super().__init__(
            f"exception {code:#04x} ({EXCEPTION_NAMES.get(code, 'unknown')}) to {function}{where}"
        )


class NoAnswer(Exception):
    """The device did not answer in time (after retries), or the link is down."""


def quiet_pymodbus(verbosity: int = 0) -> None:
    """Keep pymodbus's own logging out of smartbuild's output unless asked for (-vv)."""
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbosity > 1 else logging.CRITICAL)


class Redactor(logging.Filter):
    """Replace secret texts (a !secret address) in pymodbus's own log lines (shown with -vv)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with every secret text masked."""
        if self.texts:
            message = record.getMessage()
            for text in sorted(self.texts, key=len, reverse=True):
                message = message.replace(text, "***")
            record.msg, record.args = message, ()
        return True

    def attach(self) -> None:
        """Filter pymodbus's loggers (a filter does not reach child loggers: name each)."""
        for name in ("pymodbus", "pymodbus.logging"):
            logging.getLogger(name).addFilter(self)

    def detach(self) -> None:
        """Stop filtering pymodbus's loggers."""
        for name in ("pymodbus", "pymodbus.logging"):
            logging.getLogger(name).removeFilter(self)


class Link:
    """One TCP connection or serial line, shared by the units behind it, one request at a time."""

    def __init__(
        self,
        key: str,
        make_client: Callable[[], Any],
        *,
        connect_delay_s: float,
        pause_s: float,
        label: str | None = None,
        timing: AdaptiveTimeout | None = None,
        tolerate_silence: bool = False,
    ) -> None:
        self.key = key
        self.label = key if label is None else label  # what messages show
        #: Per-request timeouts learned from answers; None keeps the client's own timeout.
        self.timing = timing
        # A unit sweep meets many silent ids in a row: pymodbus would drop the connection.
        self.tolerate_silence = tolerate_silence
        #: Unit ids that have answered on this link (they earn a retry when silent).
        self.answered: set[int] = set()
        self._make_client = make_client
        self.client: Any = None
        self.lock = asyncio.Lock()
        self.connect_delay_s = connect_delay_s
        self.pause_s = pause_s
        self._last = 0.0
        self.connects = 0

    async def _connect(self) -> None:
        if self.client is not None and self.client.connected:
            return
        if self.client is None:
            self.client = self._make_client()
        if self.timing is not None:  # the connect timeout is the client's one timeout setting
            self.client.ctx.comm_params.timeout_connect = self.timing.settings.initial
        try:
            ok = await self.client.connect()
        except _line_setting_errors() as error:
            # termios.error is no OSError: a serial port (or pty) refusing baud/parity/stop bits
            self.client = None
            raise NoAnswer(
                f"{self.label} refused its line settings ({error}); check baud rate, parity "
                "and stop bits (a pseudo-terminal takes no parity)"
            ) from None
        if not ok:
            raise NoAnswer(f"cannot connect to {self.label}")
        self.connects += 1
        if self.connect_delay_s:  # slow gateways need a moment after the TCP handshake
            await asyncio.sleep(self.connect_delay_s)

    async def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """Send one request and return the response; raise NoAnswer or ModbusExceptionResponse."""
        from pymodbus.exceptions import ConnectionException, ModbusIOException

        async with self.lock:
            loop = asyncio.get_running_loop()
            if self.pause_s:
                wait = self._last + self.pause_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            retries = None
            try:
                await self._connect()
                if function.startswith("write_"):
                    # never resend a write: a lost answer does not mean a lost request, and a
                    # second frame could apply it twice (the caller reads back instead)
                    ctx: Any = getattr(self.client, "ctx", None)
                    if ctx is not None:
                        retries, ctx.retries = ctx.retries, 0
                response = await self._send(function, args, kwargs)
            except (ConnectionException, ModbusIOException, OSError, asyncio.TimeoutError) as error:
                text = _describe(error)
                if self.client is not None and not self.client.connected:
                    self.client.close()
                    if self.connects:  # it was up: the device closed it under this request
                        text = f"connection closed by the device during the request ({text})"
                raise NoAnswer(text) from None
            finally:
                self._last = loop.time()
                if retries is not None and self.client is not None:
                    self.client.ctx.retries = retries
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise ModbusExceptionResponse(
                code, function, kwargs.get("address", args[0] if args else None)
            )
        return response

    async def _send(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.timing is None:
            return await getattr(self.client, function)(*args, **kwargs)
        ctx = self.client.ctx
        if self.tolerate_silence:
            ctx.count_until_disconnect = ctx.max_until_disconnect
        sizes = frames_of(function, kwargs, args)
        ctx.comm_params.timeout_connect = self.timing.timeout(*sizes)
        loop = asyncio.get_running_loop()
        start = loop.time()
        response = await getattr(self.client, function)(*args, **kwargs)
        if not response.isError() and function in READ_FUNCTIONS.values():
            self.timing.observe(loop.time() - start, *_actual(function, response, sizes))
        elif response.isError():
            self.timing.observe(loop.time() - start, sizes[0], 5)
        return response

    def close(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()
            self.client = None


def _actual(function: str, response: Any, sizes: tuple[int, int]) -> tuple[int, int]:
    """Return the frame sizes of an answered read (the response's real length)."""
    if function in ("read_holding_registers", "read_input_registers"):
        return sizes[0], 5 + 2 * len(response.registers)
    return sizes


def _line_setting_errors() -> tuple[type[BaseException], ...]:
    try:
        import termios
    except ImportError:  # Windows: pyserial reports bad settings as SerialException (OSError)
        return ()
    return (termios.error,)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if "No response" in text or isinstance(error, asyncio.TimeoutError):
        return "no answer (timeout)"
    return text.replace("Modbus Error: ", "").strip("[] ")

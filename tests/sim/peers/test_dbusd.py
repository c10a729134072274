"""The private dbus-daemon and the signal pacer."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from smartbuild.errors import SmartbuildError
from smartbuild.sim.peers.dbusd import PrivateBus, SignalPacer, wait_for_name

needs_daemon = pytest.mark.skipif(
    shutil.which("dbus-daemon") is None,
    reason="dbus-daemon is not installed (apt-get install dbus-daemon)",
)


def make_signal() -> Message:
    return Message.new_signal(
        "/org/bluez/hci0/dev_AA",
        "org.freedesktop.DBus.Properties",
        "PropertiesChanged",
        "sa{sv}as",
        ["org.bluez.Device1", {}, []],
    )


def assert_gone(pid: int, socket_path: Path) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not socket_path.exists()
    assert not socket_path.parent.exists()


def test_missing_daemon_is_a_clear_error() -> None:
    with pytest.raises(SmartbuildError) as err:
        PrivateBus(executable="no-such-dbus-daemon").start()
    assert "not installed" in err.value.message
    assert err.value.hint == "apt-get install dbus-daemon"


@needs_daemon
def test_sync_context_leaves_no_process_or_socket() -> None:
    with PrivateBus() as bus:
        assert bus.running
        assert bus.address.startswith("unix:path=")
        socket_path = Path(bus.address.removeprefix("unix:path="))
        assert socket_path.exists()
        pid = bus.pid
        assert pid is not None
    assert not bus.running
    assert bus.address == ""
    assert_gone(pid, socket_path)
    bus.stop()  # stopping twice is harmless


@needs_daemon
async def test_any_client_may_own_names_and_call_each_other() -> None:
    async with PrivateBus() as bus:
        socket_path = Path(bus.address.removeprefix("unix:path="))
        pid = bus.pid
        assert pid is not None
        owner = await MessageBus(bus_address=bus.address).connect()
        await owner.request_name("org.bluez")
        await wait_for_name(bus.address, "org.bluez", timeout=2)
        caller = await MessageBus(bus_address=bus.address).connect()
        reply = await caller.call(
            Message(
                destination="org.bluez",
                path="/",
                interface="org.freedesktop.DBus.Peer",
                member="Ping",
            )
        )
        assert reply.message_type == MessageType.METHOD_RETURN
        for client in (owner, caller):
            client.disconnect()
            await client.wait_for_disconnect()
    assert_gone(pid, socket_path)


@needs_daemon
async def test_wait_for_name_gives_up() -> None:
    async with PrivateBus() as bus:
        with pytest.raises(SmartbuildError, match=r"nothing owns org\.bluez"):
            await wait_for_name(bus.address, "org.bluez", timeout=0.05)


@needs_daemon
async def test_pacer_delivers_a_burst_that_would_overflow_the_socket() -> None:
    # Sent back to back, a burst like this drops a dbus-fast 5.2 connection; paced,
    # every signal reaches a listener that runs in the same event loop.
    count = 20_000
    async with PrivateBus() as bus:
        sender = await MessageBus(bus_address=bus.address).connect()
        listener = await MessageBus(bus_address=bus.address).connect()
        received = 0

        def on_message(msg: Message) -> bool:
            nonlocal received
            received += msg.member == "PropertiesChanged"
            return False

        listener.add_message_handler(on_message)
        await listener.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal',member='PropertiesChanged'"],
            )
        )
        pacer = SignalPacer(sender)
        task = asyncio.create_task(pacer.run())
        try:
            for _ in range(count):
                pacer.push(lambda: sender.send(make_signal()))
            await pacer.flush()
            assert pacer.backlog() == 0
            for _ in range(1000):  # bounded wait for the listener to read them all
                if received == count:
                    break
                await asyncio.sleep(0.01)
            assert received == count
            assert sender.connected
        finally:
            task.cancel()
            for client in (sender, listener):
                client.disconnect()

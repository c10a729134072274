"""Pure parts of the Modbus link: host and port parsing."""

from __future__ import annotations

import pytest

from smartbuild.errors import UsageError
from smartbuild.transports.modbus.link import split_host_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.10", ("192.0.2.10", 502)),
        ("192.0.2.10:5020", ("192.0.2.10", 5020)),
        ("[::1]:1502", ("::1", 1502)),
        ("[::1]", ("::1", 502)),
        ("::1", ("::1", 502)),
        ("gw.local:65535", ("gw.local", 65535)),
    ],
)
def test_split_host_port(text, expected):
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:abc", "127.0.0.1:", "[::1", "[::1]x"]
)
def test_a_bad_port_is_a_usage_error(text):
    with pytest.raises(UsageError, match="invalid address"):
        split_host_port(text)


@pytest.mark.parametrize("command", [["read", "--raw"], ["probe"]])
def test_bad_port_through_the_cli_is_exit_2_not_an_internal_error(run, command):
    result = run("--json", *command, "127.0.0.1:99999", "--address", "0")
    assert result.exit_code == 2, result.output
    assert '"UsageError"' in result.stdout
    assert "internal error" not in result.stderr

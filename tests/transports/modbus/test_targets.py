"""Modbus TCP targets: host and port parsing, host checks, name lookups, ranges and blocks."""

from __future__ import annotations

import pytest

from smartbuild.errors import UsageError
from smartbuild.transports.modbus.targets import (
    check_targets,
    expand_targets,
    host_problem,
    parse_target,
    split_host_port,
)


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


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("300.1.1.1", "'300.1.1.1' is not a valid IP address (300 is more than 255)"),
        ("10.0.0", "(3 parts; an IPv4 address has 4)"),
        ("", "the host is empty"),
        ("  ", "the host is empty"),
        ("fe80::zz", "'fe80::zz' is not a valid IP address"),
        ("bad_host-.lan", "is not a valid host name"),
        ("two words", "is not a valid host name"),
    ],
)
def test_host_problem_says_why(host, reason):
    problem = host_problem(host)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("host", ["192.0.2.10", "::1", "fe80::1%eth0", "gw.local", "plc-3", "a.b."])
def test_good_hosts_have_no_problem(host):
    assert host_problem(host) is None


def test_parse_target_checks_the_host_and_optionally_resolves_names():
    assert parse_target("localhost:5020", resolve=True) == ("localhost", 5020)
    assert parse_target("gw.invalid") == ("gw.invalid", 502)  # no lookup unless asked
    with pytest.raises(UsageError, match=r"'gw\.invalid' does not resolve"):
        parse_target("gw.invalid", resolve=True)
    with pytest.raises(UsageError, match="300 is more than 255"):
        parse_target("300.1.1.1:5020")


def test_check_targets_counts_blocks_without_expanding_and_checks_every_host():
    assert check_targets(["10.0.0.0/8"]) == 2**24
    assert check_targets(["10.0.0.5-40", "10.0.1.1:503", "localhost"]) == 38
    for bad in (
        ["300.1.1.1"],
        ["10.0.0.0/33"],
        [""],
        ["10.0.0.9-3"],
        ["10.0.0.0/24:0"],
        ["x.invalid"],
    ):
        with pytest.raises(UsageError):
            check_targets(bad)


def test_expand_targets_refuses_a_bad_host_instead_of_sweeping_it():
    assert expand_targets(["10.0.0.1-3:5020"], 502) == [(f"10.0.0.{i}", 5020) for i in (1, 2, 3)]
    with pytest.raises(UsageError, match="not a valid IP address"):
        expand_targets(["300.1.1.1"], 502)

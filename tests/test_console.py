"""The output environment: JSON conventions of every --json document."""

from __future__ import annotations

import datetime as dt
import json
import math

from smartbuild.console import dumps


class _Row:
    def to_json(self) -> dict[str, object]:
        return {"value": math.nan, "ok": True}


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_inf_become_null_everywhere():
    data = {
        "a": math.nan,
        "b": [math.inf, -math.inf, 1.5],
        "c": (_Row(),),
        "d": {"nested": [{"x": math.nan}]},
        "when": dt.date(2026, 1, 15),
        "flag": True,
    }
    for indent in (2, None):
        assert _strict(dumps(data, indent=indent)) == {
            "a": None,
            "b": [None, None, 1.5],
            "c": [{"value": None, "ok": True}],
            "d": {"nested": [{"x": None}]},
            "when": "2026-01-15",
            "flag": True,
        }


def test_finite_data_is_unchanged():
    data = {"v": 21.5, "n": 3, "s": "°C", "raw": b"\x01\x02", "tags": {"b", "a"}}
    assert _strict(dumps(data)) == {"v": 21.5, "n": 3, "s": "°C", "raw": "0102", "tags": ["a", "b"]}

"""Build the "Did you mean ...?" part of error messages (one implementation for every module)."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """Return " Did you mean 'x'?" for the closest option, or "" when nothing is close."""
    import difflib  # only an error needs it: a read that goes well never loads it

    close = difflib.get_close_matches(str(word), sorted(str(o) for o in options), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""

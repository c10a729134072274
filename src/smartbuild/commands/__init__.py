"""One module per command group; each is imported only when its command runs."""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """A float option in a range that also refuses nan and inf.

    click's FloatRange lets nan through (every comparison with it is False), and a nan or infinite
    timeout, interval or pause makes loops spin, never end or give up at once.
    """

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return the value as a finite float in range, or fail with a usage error."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number

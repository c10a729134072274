"""How a plan reads on an 80-column terminal: one line per point, a legend, folded warnings."""

from __future__ import annotations

from smartbuild.commands.plan_view import collapse


def test_repeated_zone_warnings_fold_into_one_line_with_a_count():
    warnings = [f"zone 'z{i:02d}': no point for ventilation_mode" for i in range(1, 13)]
    warnings += ["peak shedding inactive: no current value for site_active_power"]
    folded = collapse(warnings)
    assert folded == [
        "no point for ventilation_mode (12 zones: z01, z02, z03, z04, z05, z06 and 6 more)",
        "peak shedding inactive: no current value for site_active_power",
    ]
    assert collapse(["zone 'a': no point for x"]) == ["zone 'a': no point for x"]

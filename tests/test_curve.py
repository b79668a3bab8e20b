"""The learning curve's plan (accent.curve): sizes parsed and capped, series named and planned by the methods."""
from __future__ import annotations

import pytest

from accent.curve import ALL, cap_sizes, parse_sizes, plan_points
from accent.errors import AccentError


def test_curve_sizes_are_parsed_and_capped():
    assert parse_sizes("20,5,all,5") == [5, 20, ALL]
    assert cap_sizes([5, 10, 50, ALL], largest_class=30) == ([5, 10, ALL], [50])
    assert cap_sizes([5, 50], largest_class=30) == ([5, ALL], [50])
    assert cap_sizes([5, 10], largest_class=30) == ([5, 10], [])
    with pytest.raises(AccentError, match="--sizes"):
        parse_sizes("5,ten")


def test_the_plan_asks_each_method_for_its_series():
    """baseline runs once, extract once per backbone, finetune skips fusions, aligned adds its source series."""
    points = plan_points(["baseline", "extract", "finetune", "aligned"], ["accent", "mfcc+resemblyzer"], [5], [0],
                         {"aligned_source.npz"})
    assert [p.series for p in points] == ["baseline", "extract", "extract-mfcc+resemblyzer", "finetune", "aligned",
                                          "aligned-source"]

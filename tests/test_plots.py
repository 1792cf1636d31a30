"""The report's figures (workbench/reporting/plots.py): points with intervals get error bars, on
line and bar plots; points without stay drawn as before."""

import csv

import matplotlib.image
import numpy as np
import pytest

from workbench.reporting.plots import plot_csv, write_plot
from workbench.reporting.studies import PlotData


def lines(points: dict) -> PlotData:
    return PlotData("recall", "Recall@k", "lines", "k", "R@k (%)", {"": points}, {"": {"oracle": 90.0}})


def bars(points: dict) -> PlotData:
    return PlotData("wer", "WER per test set", "bars", "test set", "%", {"": points})


PLAIN_LINES = {"phonetic baseline": [(1, 20.0), (5, 40.0), (10, None)], "fused": [(1, 30.0), (5, 55.0), (10, 70.0)]}
BARRED_LINES = {"phonetic baseline": [(1, 20.0, 12.0, 29.0), (5, 40.0, 31.0, 49.0), (10, None, None, None)],
                "fused": [(1, 30.0, 21.0, 40.0), (5, 55.0, None, None), (10, 70.0, 61.0, 78.5)]}
PLAIN_BARS = {"WER": [("en", 23.0), ("zh", None)], "PIER": [("en", 40.0), ("zh", 35.0)]}
BARRED_BARS = {"WER": [("en", 23.0, 17.5, 29.0), ("zh", None, None, None)], "PIER": [("en", 40.0, 30.0, 51.0),
                                                                                     ("zh", 35.0, 36.0, 44.0)]}


def pixels(plot: PlotData, directory) -> np.ndarray:
    png, data = write_plot(plot, directory)
    assert png.stat().st_size > 0 and data.stat().st_size > 0
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 200 and image.std() > 0.05  # drawn, not blank
    return image


@pytest.mark.parametrize("make, plain, barred", [(lines, PLAIN_LINES, BARRED_LINES), (bars, PLAIN_BARS, BARRED_BARS)])
def test_intervals_draw_error_bars_and_plain_points_draw_as_before(tmp_path, make, plain, barred):
    without = pixels(make(plain), tmp_path / "plain")
    # (x, y, None, None) is a point without a bar: the same figure as (x, y)
    unbarred = {name: [(*p, None, None) for p in points] for name, points in plain.items()}
    assert np.array_equal(pixels(make(unbarred), tmp_path / "unbarred"), without)
    with_bars = pixels(make(barred), tmp_path / "barred")
    assert with_bars.shape != without.shape or not np.array_equal(with_bars, without)  # the bars are drawn


def test_csv_has_interval_columns_only_when_a_point_has_one():
    rows = list(csv.reader(plot_csv(lines(PLAIN_LINES)).splitlines()))
    assert rows[0] == ["panel", "series", "k", "R@k (%)"] and rows[3] == ["", "phonetic baseline", "10", ""]
    rows = list(csv.DictReader(plot_csv(lines(BARRED_LINES)).splitlines()))
    assert list(rows[0]) == ["panel", "series", "k", "R@k (%)", "R@k (%)_lo", "R@k (%)_hi"]
    by_point = {(r["series"], r["k"]): (r["R@k (%)"], r["R@k (%)_lo"], r["R@k (%)_hi"]) for r in rows}
    assert by_point[("phonetic baseline", "1")] == ("20.0", "12.0", "29.0")
    assert by_point[("fused", "5")] == ("55.0", "", "")  # no interval: empty bounds
    assert by_point[("phonetic baseline", "10")] == ("", "", "")  # a gap

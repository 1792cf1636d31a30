"""Figures of the report: line plots (recall@k, KER vs k) and grouped bars (WER/PIER), as PNG
plus the plotted points as CSV (``panel,series,x,y``) that ``dvc plots`` can draw as well.

Points without a value are gaps: a line breaks there and a bar is not drawn (never a zero bar).
A point is ``(x, y)`` or ``(x, y, lo, hi)``: with an interval (lo and hi not None) it gets an
error bar, and the CSV gains ``<y>_lo``/``<y>_hi`` columns (only when some point has one).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.reporting.studies import PlotData


def _point(point: tuple) -> tuple:
    """``(x, y, lo, hi)`` of either form; lo and hi None unless the point has an interval."""
    x, y, *bounds = point
    lo, hi = bounds if len(bounds) == 2 else (None, None)
    return (x, y, lo, hi) if y is not None and lo is not None and hi is not None else (x, y, None, None)


def _has_intervals(plot: PlotData) -> bool:
    return any(_point(p)[2] is not None for series in plot.panels.values() for points in series.values()
               for p in points)


def plot_csv(plot: PlotData) -> str:
    bars = _has_intervals(plot)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["panel", "series", plot.x_label, plot.y_label]
                    + ([f"{plot.y_label}_lo", f"{plot.y_label}_hi"] if bars else []))
    for panel, series in plot.panels.items():
        for name, points in series.items():
            for point in points:
                x, *values = _point(point)
                cells = ["" if v is None else round(v, 4) for v in values]
                writer.writerow([panel, name, x, *(cells if bars else cells[:1])])
    return buffer.getvalue()


def _error_bars(axis, xs: list, points: list[tuple], color: str) -> None:
    """Error bars at ``xs`` for the (x, y, lo, hi) points that have an interval (none: nothing drawn)."""
    marked = [(x, y, lo, hi) for x, (_, y, lo, hi) in zip(xs, points) if lo is not None]
    if marked:
        xs, ys, los, his = zip(*marked)
        below = [max(0.0, y - lo) for y, lo in zip(ys, los)]  # a percentile interval may miss its point
        above = [max(0.0, hi - y) for y, hi in zip(ys, his)]
        axis.errorbar(xs, ys, yerr=[below, above], fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.8)


def render_png(plot: PlotData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    panels = list(plot.panels.items())
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.6), squeeze=False)
    for axis, (panel, series) in zip(axes[0], panels):
        series = {name: [_point(p) for p in points] for name, points in series.items()}
        if plot.kind == "lines":
            for index, (name, points) in enumerate(series.items()):
                xs = [x for x, *_ in points]
                ys = [np.nan if y is None else y for _, y, *_ in points]
                style = "--" if "baseline" in name else "-"
                axis.plot(xs, ys, style, marker="o", label=name, color=f"C{index % 10}")
                _error_bars(axis, xs, points, f"C{index % 10}")
            for index, (label, level) in enumerate(plot.references.get(panel, {}).items()):
                axis.axhline(level, linestyle=":", color=f"C{(index + len(series)) % 10}", label=label)
            axis.set_xscale("log")
            ticks = sorted({x for points in series.values() for x, *_ in points})
            axis.set_xticks(ticks, [str(t) for t in ticks])
            axis.minorticks_off()
        else:
            categories = list(dict.fromkeys(x for points in series.values() for x, *_ in points))
            width = 0.8 / max(1, len(series))
            for index, (name, points) in enumerate(series.items()):
                by_category = {p[0]: p for p in points}
                present = [(i, by_category[c]) for i, c in enumerate(categories)
                           if c in by_category and by_category[c][1] is not None]
                xs = [i + (index - (len(series) - 1) / 2) * width for i, _ in present]
                drawn = [point for _, point in present]
                bars = axis.bar(xs, [y for _, y, *_ in drawn], width, label=name, color=f"C{index}")
                barred = any(lo is not None for _, _, lo, _ in drawn)  # values inside the bars, off the error bars
                axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=1, label_type="center" if barred else "edge")
                _error_bars(axis, xs, drawn, "black")
            axis.set_xticks(range(len(categories)), categories, rotation=35, ha="right", fontsize=8)
        axis.set_title(panel or plot.title, fontsize=10)
        axis.set_xlabel(plot.x_label)
        axis.set_ylabel(plot.y_label)
        axis.grid(alpha=0.3)
        if len(series) + len(plot.references.get(panel, {})) > 4:  # many lines: the legend below, off the data
            axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        else:
            axis.legend(fontsize=7, loc="best")
    if any(panel for panel, _ in panels):
        figure.suptitle(plot.title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    tmp.replace(path)


def write_plot(plot: PlotData, directory: Path) -> tuple[Path, Path]:
    png, data = directory / f"{plot.slug}.png", directory / f"{plot.slug}.csv"
    render_png(plot, png)
    write_text_atomic(data, plot_csv(plot))
    return png, data

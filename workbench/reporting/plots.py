"""Figures of the report: line plots (recall@k, KER vs k) and grouped bars (WER/PIER), as PNG
plus the plotted points as CSV (``panel,series,x,y``) that ``dvc plots`` can draw as well.

Points without a value are gaps: a line breaks there and a bar is not drawn (never a zero bar).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.reporting.studies import PlotData


def plot_csv(plot: PlotData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["panel", "series", plot.x_label, plot.y_label])
    for panel, series in plot.panels.items():
        for name, points in series.items():
            for x, y in points:
                writer.writerow([panel, name, x, "" if y is None else round(y, 4)])
    return buffer.getvalue()


def render_png(plot: PlotData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    panels = list(plot.panels.items())
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.6), squeeze=False)
    for axis, (panel, series) in zip(axes[0], panels):
        if plot.kind == "lines":
            for index, (name, points) in enumerate(series.items()):
                xs = [x for x, _ in points]
                ys = [np.nan if y is None else y for _, y in points]
                style = "--" if "baseline" in name else "-"
                axis.plot(xs, ys, style, marker="o", label=name, color=f"C{index % 10}")
            for index, (label, level) in enumerate(plot.references.get(panel, {}).items()):
                axis.axhline(level, linestyle=":", color=f"C{(index + len(series)) % 10}", label=label)
            axis.set_xscale("log")
            ticks = sorted({x for points in series.values() for x, _ in points})
            axis.set_xticks(ticks, [str(t) for t in ticks])
            axis.minorticks_off()
        else:
            categories = list(dict.fromkeys(x for points in series.values() for x, _ in points))
            width = 0.8 / max(1, len(series))
            for index, (name, points) in enumerate(series.items()):
                values = dict(points)
                xs = [i + (index - (len(series) - 1) / 2) * width
                      for i, c in enumerate(categories) if values.get(c) is not None]
                ys = [values[c] for c in categories if values.get(c) is not None]
                bars = axis.bar(xs, ys, width, label=name, color=f"C{index}")
                axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
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

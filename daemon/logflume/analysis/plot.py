"""``analyze --plot FILE.png``: latency distribution, error rate over time and provider load.

Drawn on a bare :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot), so no display and no
global state is involved.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from logflume.analysis.results import Metrics, PlotData, Report

BLUE = "#4C72B0"
RED = "#C44E52"
GREY = "#8C8C8C"
ORANGE = "#DD8452"


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=GREY, transform=ax.transAxes)


def _latency(ax: Axes, data: PlotData, summary: Metrics, slow_ms: float) -> None:
    ax.set_title("Response time distribution", loc="left", fontweight="bold")
    hist = data.histogram
    if not hist.counts:
        _empty(ax, "no response times")
        return
    ax.stairs(hist.counts, hist.edges, fill=True, color=BLUE, alpha=0.75)
    ax.set_xscale("log")
    ax.set_xlabel("response time (ms, log scale)")
    ax.set_ylabel("requests")
    marks = [("p50", summary.p50_ms, "-"), ("p95", summary.p95_ms, "--"), ("p99", summary.p99_ms, ":")]
    for label, value, style in marks:
        if value is not None and value > 0:
            ax.axvline(value, color="black", linestyle=style, linewidth=1.2, label=f"{label} {value:,.0f} ms")
    if hist.edges[0] <= slow_ms <= hist.edges[-1]:
        ax.axvline(slow_ms, color=RED, linewidth=1.2, label=f"slow > {slow_ms:g} ms")
    ax.legend(frameon=False, fontsize=9)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _providers(ax: Axes, data: PlotData) -> None:
    ax.set_title("Requests per provider", loc="left", fontweight="bold")
    if not data.providers:
        _empty(ax, "no requests")
        return
    points = list(reversed(data.providers))
    names = [p.provider for p in points]
    ok = [p.requests - p.errors for p in points]
    errors = [p.errors for p in points]
    ax.barh(names, ok, color=BLUE, label="ok")
    ax.barh(names, errors, left=ok, color=RED, label="errors")
    top = max(p.requests for p in points)
    for index, point in enumerate(points):
        rate = point.errors / point.requests if point.requests else 0.0
        avg = "-" if point.avg_response_time_ms is None else f"{point.avg_response_time_ms:,.0f} ms"
        ax.text(
            point.requests + top * 0.01,
            index,
            f"{rate:.1%} err · avg {avg}",
            va="center",
            fontsize=9,
            color="#333333",
        )
    ax.set_xlim(0, top * 1.45)
    ax.set_xlabel("requests")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(frameon=False, fontsize=9, loc="lower right")


def _timeline(ax: Axes, data: PlotData) -> None:
    ax.set_title(
        f"Requests and error rate over time ({_bucket_label(data.bucket_seconds)} buckets)",
        loc="left",
        fontweight="bold",
    )
    if not data.timeline:
        _empty(ax, "no timestamps")
        return
    starts = [float(date2num(p.start)) for p in data.timeline]  # type: ignore[no-untyped-call]
    width = data.bucket_seconds / 86400 * 0.9  # bar width in days, matplotlib's date unit
    ax.bar(
        starts,
        [p.requests for p in data.timeline],
        width=width,
        align="edge",
        color=BLUE,
        alpha=0.35,
        label="requests",
    )
    ax.set_ylabel("requests per bucket")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    rate_ax = ax.twinx()
    rates = [p.errors / p.requests if p.requests else float("nan") for p in data.timeline]
    # The rate belongs to the whole bucket: drawn at its middle, over the bar.
    middles = [start + data.bucket_seconds / 86400 / 2 for start in starts]
    rate_ax.plot(
        middles, rates, color=RED, linewidth=1.5, marker="." if len(starts) < 60 else None, label="error rate"
    )
    rate_ax.set_ylabel("error rate", color=RED)
    rate_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    # Headroom above both series keeps the legend clear of the data.
    ax.set_ylim(0, max(p.requests for p in data.timeline) * 1.25 or 1)
    top_rate = max((rate for rate in rates if rate == rate), default=0.0)
    rate_ax.set_ylim(0, top_rate * 1.25 or 0.01)
    rate_ax.tick_params(axis="y", colors=RED)
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    handles = ax.get_legend_handles_labels()
    rate_handles = rate_ax.get_legend_handles_labels()
    ax.legend(
        handles[0] + rate_handles[0],
        handles[1] + rate_handles[1],
        frameon=False,
        fontsize=9,
        loc="upper left",
        ncol=2,
    )


def _bucket_label(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def render_plot(report: Report, data: PlotData, path: Path) -> None:
    """Write the three panels to ``path`` as a PNG."""
    summary = report.summary
    figure = Figure(figsize=(14, 9), dpi=100, layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=[1, 1])
    main_axes = [
        figure.add_subplot(grid[0, 0]),
        figure.add_subplot(grid[0, 1]),
        figure.add_subplot(grid[1, :]),
    ]
    _latency(main_axes[0], data, summary, report.slow_ms)
    _providers(main_axes[1], data)
    _timeline(main_axes[2], data)
    rate = "-" if summary.error_rate is None else f"{summary.error_rate:.2%}"
    title = (
        f"{summary.total_requests:,} requests · {summary.error_count:,} errors ({rate}) · "
        f"{summary.slow_requests:,} slow"
    )
    if report.first_event is not None and report.last_event is not None:
        title += f"\n{report.first_event:%Y-%m-%d %H:%M:%S} to {report.last_event:%Y-%m-%d %H:%M:%S} UTC"
    figure.suptitle(title, fontsize=13)
    for ax in figure.axes:
        ax.spines["top"].set_visible(False)
    for ax in main_axes:
        ax.grid(axis="y", alpha=0.3)
    figure.savefig(path, format="png")

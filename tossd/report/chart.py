"""The report's chart (PNG): calls per local hour per number, answered / voicemail / missed."""

# The only module importing matplotlib. It draws on a Figure with its own Agg canvas, never
# through pyplot, so no backend is selected and no matplotlib global changes.

from __future__ import annotations

import functools
from pathlib import Path

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from tossd.report.figures import NumberReport, Report
from tossd.text.phone import format_number
from tossd.text.untrusted import one_line

WIDTH_PX = 1200
PANEL_PX = 300
DPI = 100
#: Beyond this many numbers the chart would be a scroll, not a glance: the busiest are drawn.
MAX_PANELS = 8
#: Okabe-Ito colours: told apart with every common colour-vision deficiency.
SERIES = (
    ("answered", "Answered", "#0072B2"),
    ("voicemail", "Voicemail", "#56B4E9"),
    ("missed", "Missed", "#D55E00"),
)
TICK_EVERY = 3
LABEL_LEN = 48
#: Sizes in points at 100 dpi: the 1200 px image is shrunk about 3x on a phone screen.
TITLE_PT, TEXT_PT = 20, 16


def chart_size(numbers: int) -> tuple[int, int]:
    """(width, height) in pixels of the chart of a report on `numbers` numbers."""
    return WIDTH_PX, PANEL_PX * max(1, min(numbers, MAX_PANELS))


@functools.lru_cache(maxsize=1)
def _font() -> FT2Font:
    """The font Text uses by default, to know which characters it can draw."""
    return FT2Font(font_manager.findfont(font_manager.FontProperties()))


def _drawable(text: str) -> str:
    """Untrusted text (an alias) as the font can draw it: a missing glyph is a warning
    from matplotlib, so such characters become "?" instead."""
    font = _font()
    return "".join(c if font.get_char_index(ord(c)) else "?" for c in one_line(text, LABEL_LEN))


def _title(number: NumberReport) -> str:
    """The panel's title, e.g. `Sales · +1 212-555-0134: 6 calls, 2 missed` (tossd's counts)."""
    ext, activity = number.extension, number.activity
    parts = [part for part in (ext.alias, format_number(ext.did)) if part]
    name = _drawable(" · ".join(parts) or f"extension {ext.extensionid}")
    return f"{name}: {activity.calls} calls, {activity.missed} missed"


def _panel(ax: Axes, number: NumberReport, report: Report) -> None:
    positions = list(range(len(report.slots)))
    bottom = [0] * len(positions)
    for field, label, colour in SERIES:
        values = [getattr(hour, field) for hour in number.hourly]
        ax.bar(positions, values, bottom=bottom, color=colour, label=label, width=0.85)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    peak = max(bottom, default=0)
    ax.set_ylim(0, max(1, peak) * 1.15)
    ax.set_xlim(-0.6, len(positions) - 0.4)
    ticks = positions[::TICK_EVERY]
    ax.set_xticks(ticks, [report.slots[i].label for i in ticks], fontsize=TEXT_PT)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.tick_params(axis="y", labelsize=TEXT_PT)
    ax.spines[["top", "right"]].set_visible(False)
    # parse_math off: a "$" in an alias must stay a dollar sign, not start TeX.
    ax.set_title(_title(number), loc="left", fontsize=TITLE_PT, parse_math=False)
    if peak == 0:
        ax.text(
            0.5,
            0.5,
            "no calls in tossd's records",
            transform=ax.transAxes,
            ha="center",
            fontsize=TEXT_PT,
        )


def _drawn(report: Report) -> list[NumberReport]:
    """The numbers that get a panel, in report order: all, or the busiest MAX_PANELS."""
    busiest = sorted(report.numbers, key=lambda n: -sum(h.calls for h in n.hourly))
    kept = {id(n) for n in busiest[:MAX_PANELS]}
    return [n for n in report.numbers if id(n) in kept]


def draw_chart(report: Report, path: Path) -> Path:
    """Draw the chart of `report` into the PNG file `path` (size: `chart_size`)."""
    numbers = _drawn(report)
    width, height = chart_size(len(numbers))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(max(1, len(numbers)), 1, squeeze=False)[:, 0]
    for ax, number in zip(axes, numbers, strict=False):
        _panel(ax, number, report)
    if not numbers:
        axes[0].text(0.5, 0.5, "no numbers", transform=axes[0].transAxes, ha="center")
    axes[-1].set_xlabel(f"Local hour ({report.tz}), {report.day.isoformat()}", fontsize=TEXT_PT)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(
            handles, labels, loc="outside upper right", ncols=3, fontsize=TEXT_PT, frameon=False
        )
    figure.savefig(path, format="png", dpi=DPI)
    return path

"""The report's chart (PNG): a day's calls per local hour per number, or a week's or month's
calls per day beside the previous period's; answered / voicemail / missed."""

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

from tossd.report.assemble import Report, ended_text
from tossd.report.figures import Counts, NumberReport
from tossd.report.period import PeriodKind
from tossd.report.window import DaySlot
from tossd.text.counting import counted
from tossd.text.phone import format_number
from tossd.text.untrusted import one_line

WIDTH_PX = 1200
PANEL_PX = 300
#: The figure's own title line above the panels and the legend below them.
HEADER_PX = 100
PERIOD_PX = 520
PREVIOUS_COLOUR = "#BBBBBB"
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
#: Characters of a bold TITLE_PT title that fit the width; a longer one is set smaller.
TITLE_FITS = 60


def chart_size(numbers: int, *, period: PeriodKind = PeriodKind.DAY) -> tuple[int, int]:
    """(width, height) in pixels of the chart of a report on `numbers` numbers: a panel per
    number for a day, one panel for the account for a week or month."""
    if period is not PeriodKind.DAY:
        return WIDTH_PX, PERIOD_PX
    return WIDTH_PX, PANEL_PX * max(1, min(numbers, MAX_PANELS)) + HEADER_PX


@functools.lru_cache(maxsize=1)
def _font() -> FT2Font:
    """The font Text uses by default, to know which characters it can draw."""
    return FT2Font(font_manager.findfont(font_manager.FontProperties()))


def _drawable(text: str) -> str:
    """Untrusted text (an alias) as the font can draw it: a missing glyph is a warning
    from matplotlib, so such characters become "?" instead."""
    font = _font()
    return "".join(c if font.get_char_index(ord(c)) else "?" for c in one_line(text, LABEL_LEN))


def _title(number: NumberReport, report: Report) -> str:
    """The panel's title, e.g. `Sales · +1 212-555-0134: 6 calls, 2 missed (ended 14:05)`:
    the same figures the text gives."""
    ext, figures = number.extension, number.figures
    parts = [part for part in (ext.alias, format_number(ext.did)) if part]
    name = _drawable(" · ".join(parts) or f"extension {ext.extensionid}")
    ended = ended_text(number, report)
    title = f"{name}: {counted(figures.calls, 'call')}, {figures.missed} missed"
    return f"{title} ({ended})" if ended else title


def _stack(ax: Axes, positions: list[float], counts: tuple[Counts, ...], width: float) -> int:
    """Answered, voicemail and missed bars stacked at `positions`; returns the tallest."""
    bottom = [0] * len(positions)
    for field, label, colour in SERIES:
        values = [getattr(c, field) for c in counts]
        ax.bar(positions, values, bottom=bottom, color=colour, label=label, width=width)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    return max(bottom, default=0)


def _axes_style(ax: Axes, peak: int, slots: int, ticks: list[int], labels: list[str]) -> None:
    ax.set_ylim(0, max(1, peak) * 1.15)
    ax.set_xlim(-0.6, slots - 0.4)
    ax.set_xticks(ticks, labels, fontsize=TEXT_PT)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.tick_params(axis="y", labelsize=TEXT_PT)
    ax.spines[["top", "right"]].set_visible(False)
    if peak == 0:
        ax.text(0.5, 0.5, "no calls", transform=ax.transAxes, ha="center", fontsize=TEXT_PT)


def _panel(ax: Axes, number: NumberReport, report: Report) -> None:
    positions = list(range(len(report.slots)))
    peak = _stack(ax, [float(p) for p in positions], number.slots, 0.85)
    ticks = positions[::TICK_EVERY]
    _axes_style(ax, peak, len(positions), ticks, [report.slots[i].label for i in ticks])
    # parse_math off: a "$" in an alias must stay a dollar sign, not start TeX.
    ax.set_title(_title(number, report), loc="left", fontsize=TITLE_PT, parse_math=False)
    if number.ended_by(report.window[1]):
        # The hours after the number ended: greyed, so "no calls" there reads as "no number".
        ended = sum(1 for slot in report.slots if slot.start < number.extension.enddate)
        ax.axvspan(ended - 0.5, len(positions) - 0.4, color=PREVIOUS_COLOUR, alpha=0.3, lw=0)


def _period_panel(ax: Axes, report: Report) -> None:
    """Calls per day, stacked, with the previous period's day-by-day total beside each."""
    positions = list(range(len(report.slots)))
    shift = 0.2 if report.previous else 0.0
    peak = _stack(ax, [p - shift for p in positions], report.account_slots, 0.4 if shift else 0.85)
    if report.previous is not None:
        before = [c.calls for c in report.previous.slots][: len(positions)]
        ax.bar(
            [p + shift for p in positions[: len(before)]],
            before,
            width=0.4,
            color=PREVIOUS_COLOUR,
            label=f"{report.previous.period.short} (all calls)",
        )
        peak = max(peak, *before, 0)
    every = 1 if len(positions) <= 7 else 2
    ticks = positions[::every]
    # A week's seven days have room for their names ("Mon 23"); a month's get their numbers.
    labels = [
        slot.name.rsplit(" ", 1)[0] if every == 1 and isinstance(slot, DaySlot) else slot.label
        for slot in (report.slots[i] for i in ticks)
    ]
    _axes_style(ax, peak, len(positions), ticks, labels)
    totals = report.totals
    ax.set_title(
        f"All numbers: {counted(totals.calls, 'call')}, {totals.missed} missed",
        loc="left",
        fontsize=TITLE_PT,
    )


def _drawn(report: Report) -> list[NumberReport]:
    """The numbers that get a panel, in report order: all, or the busiest MAX_PANELS."""
    busiest = sorted(report.numbers, key=lambda n: -n.figures.calls)
    kept = {id(n) for n in busiest[:MAX_PANELS]}
    return [n for n in report.numbers if id(n) in kept]


def draw_chart(report: Report, path: Path) -> Path:
    """Draw the chart of `report` into the PNG file `path` (size: `chart_size`)."""
    kind = report.period.kind
    numbers = _drawn(report) if kind is PeriodKind.DAY else []
    width, height = chart_size(len(numbers), period=kind)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    title = f"{_drawable(report.name)} · {report.period.chart_label} · {report.tz}"
    size = TITLE_PT if len(title) <= TITLE_FITS else TEXT_PT
    figure.suptitle(title, fontsize=size, fontweight="bold", parse_math=False)
    if kind is not PeriodKind.DAY:
        axes = figure.subplots(1, 1, squeeze=False)[:, 0]
        _period_panel(axes[0], report)
        axes[0].set_xlabel(f"Local day ({report.tz})", fontsize=TEXT_PT)
    else:
        axes = figure.subplots(max(1, len(numbers)), 1, squeeze=False)[:, 0]
        for ax, number in zip(axes, numbers, strict=False):
            _panel(ax, number, report)
        if not numbers:
            axes[0].text(0.5, 0.5, "no numbers", transform=axes[0].transAxes, ha="center")
        axes[-1].set_xlabel(f"Local hour ({report.tz})", fontsize=TEXT_PT)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(
            handles, labels, loc="outside lower center", ncols=4, fontsize=TEXT_PT, frameon=False
        )
    figure.savefig(path, format="png", dpi=DPI)
    return path

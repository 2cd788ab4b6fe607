"""Inline SVG charts drawn by hand: no JavaScript, no CDN, readable offline and in a mail.

Every data mark is a <rect class="bar"> with a <title> (the browser's own tooltip), so a
test can count what was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from unpod_etl.core.outcomes import RunOutcome

# Colour-blind-safe palette (Tableau 10); agents beyond ten reuse it.
PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
OUTCOME_COLOR = "#4e79a7"
DURATION_COLOR = "#59a14f"
# A run's column colour, and the colour of its outcome's text in the runs table (every outcome).
RUN_COLORS: dict[RunOutcome, str] = {
    RunOutcome.OK: "#59a14f",
    RunOutcome.PARTIAL: "#edc948",
    RunOutcome.ABORTED: "#e15759",
    RunOutcome.DIED: "#9c755f",
    RunOutcome.INTERRUPTED: "#b07aa1",
    RunOutcome.RUNNING: "#9aa5b1",
}
RUN_TEXT_COLORS: dict[RunOutcome, str] = {
    RunOutcome.OK: "#2f7d32",
    RunOutcome.PARTIAL: "#9a7b00",
    RunOutcome.ABORTED: "#c62828",
    RunOutcome.DIED: "#7b4f2c",
    RunOutcome.INTERRUPTED: "#7b3f73",
    RunOutcome.RUNNING: "var(--muted)",
}

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 44


def _nice_max(value: float) -> float:
    """A round axis maximum at or above value (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _svg(body: list[str], label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(top_value: float, plot_h: float) -> list[str]:
    parts = []
    for n in range(5):
        value = top_value * n / 4
        y = TOP + plot_h - plot_h * n / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    return parts


def _empty(label: str, message: str) -> str:
    return _svg(
        [
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            f"{escape(message)}</text>"
        ],
        label,
    )


def series_colors(names: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[n % len(PALETTE)] for n, name in enumerate(names)}


def stacked_columns(
    labels: Sequence[str],
    series: Mapping[str, Sequence[int]],
    label: str,
    colors: Mapping[str, str] | None = None,
    tooltips: Sequence[str] | None = None,
) -> str:
    """Columns per label, stacked by series (colours: series name -> colour); `tooltips`
    replaces the default "label · series: value" tooltip of each column."""
    colors = colors or series_colors(list(series))
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    if not labels or not any(totals):
        return _empty(label, "No calls in this period")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value = _nice_max(max(totals))
    slot = plot_w / len(labels)
    bar_w = min(max(1.0, slot * 0.7), 48.0)  # few columns must not become slabs
    parts = _y_axis(top_value, plot_h)
    every = max(1, math.ceil(len(labels) / 12))  # at most ~12 date labels
    for i, text in enumerate(labels):
        x = LEFT + i * slot + (slot - bar_w) / 2
        base: float = TOP + plot_h
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top_value
            tip = tooltips[i] if tooltips else f"{text} · {name}: {values[i]}"
            base -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colors[name]}"><title>{escape(tip)}</title></rect>'
            )
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
    return _svg(parts, label)


def columns(items: Sequence[tuple[str, int]], label: str, color: str) -> str:
    """One column per item (a histogram when the items are buckets)."""
    names = [name for name, _ in items]
    return stacked_columns(names, {label: [v for _, v in items]}, label, {label: color})


def horizontal_bars(items: Sequence[tuple[str, int]], label: str, color: str) -> str:
    """One bar per item, longest first as given, value printed at the bar's end."""
    if not items or not any(v for _, v in items):
        return _empty(label, "No calls in this period")
    row_h, label_w = 26, 150
    height = TOP + len(items) * row_h + 8
    top_value = max(v for _, v in items)
    plot_w = WIDTH - label_w - RIGHT - 48
    parts = []
    for i, (name, value) in enumerate(items):
        y = TOP + i * row_h
        w = plot_w * value / top_value if top_value else 0
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        if value:
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" '
                f'height="{row_h - 8}" fill="{color}"><title>{escape(name)}: {value}</title></rect>'
            )
        parts.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + 17}">{value}</text>')
    return _svg(parts, label, height=height)


def run_colors() -> dict[str, str]:
    """RUN_COLORS keyed by the outcomes' text, as the charts and the legend take them."""
    return {outcome.value: color for outcome, color in RUN_COLORS.items()}


def run_strip(runs: Sequence[dict[str, object]], label: str) -> str:
    """One column per run (oldest left), height = tasks seen, colour = outcome."""
    if not runs:
        return _empty(label, "No sync runs recorded yet")
    labels = [f"#{run['run_id']}" for run in runs]
    seen = [int(str(run["tasks_seen"] or 0)) for run in runs]
    # a run that saw nothing (aborted at once) still gets a visible stub
    stub = max(1, math.ceil(max(seen) * 0.05))
    heights = [max(n, stub) for n in seen]
    values: dict[str, Sequence[int]] = {
        outcome.value: [
            h if run["outcome"] == outcome else 0 for run, h in zip(runs, heights, strict=True)
        ]
        for outcome in RUN_COLORS
    }
    tips = [
        f"run #{run['run_id']} · {run['outcome']} · {n} tasks seen"
        for run, n in zip(runs, seen, strict=True)
    ]
    return stacked_columns(labels, values, label, run_colors(), tips)

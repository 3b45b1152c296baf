"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched from another site.

Pure functions from numbers and already translated words to safe markup; every word is escaped. Two kinds:

- `bar_chart`: horizontal bars, one group per row (a province, a disease category, a month), each row's
  label on its own line above its bars so a long name never squeezes them. Its x geometry is in percent of
  the width and its text in CSS pixels, so it fills any container and its words stay readable from a 390 px
  phone to a desktop (a viewBox would shrink the text with the chart).
- `column_chart`: a column per series per month over a y axis, drawn in a viewBox scaled to the container's
  width. Its 24 columns need room: the page shows it on wide screens and the same numbers as a `bar_chart`
  on narrow ones (templates/public/_charts.html, fundraise/static/transparency.css).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from fundraise.money import FEN_PER_YUAN, format_yuan

# The site's palette (fundraise/static/app.css :root): --brand, --accent, --ink, --muted, --line.
BRAND = "#1d6f5f"
ACCENT = "#c9822b"
INK = "#1f2a30"
MUTED = "#5d6b73"
LINE = "#dde3e6"
PALETTE = (BRAND, ACCENT)

MAX_LABEL = 40  # characters of a row label; a longer one is cut with an ellipsis (the table has it whole)
# The longest bar takes this share of the width; the rest is room for its amount, written after it.
LONGEST_BAR_PERCENT = 62.0


@dataclass(frozen=True)
class Series:
    """One kind of value in a chart ("Raised", "Paid to hospitals") and its colour."""

    name: str
    colour: str


@dataclass(frozen=True)
class Row:
    """A row of a bar chart or a month of a column chart: its label and one value (fen) per series.
    `note` is a second, smaller label (a column chart writes the year under January)."""

    label: str
    values: tuple[int, ...]
    note: str = ""


def series(*names: str) -> tuple[Series, ...]:
    """Series in the palette's colours, in order."""
    return tuple(Series(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(names))


def _attr(value: object) -> str:
    return str(escape(str(value)))


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _number(value: float) -> str:
    """A coordinate without float noise: '12.5', '40'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _legend(kinds: Sequence[Series], y: int) -> list[str]:
    share = 100 / max(len(kinds), 1)
    parts = []
    for i, kind in enumerate(kinds):
        # A nested <svg> placed at a percentage holds a swatch and a word at fixed pixel offsets.
        parts.append(
            f'<svg x="{_number(i * share)}%" y="{y}" overflow="visible">'
            f'<rect x="0" y="3" width="12" height="12" rx="2" fill="{kind.colour}"/>'
            f'<text x="18" y="14" fill="{INK}">{escape(kind.name)}</text></svg>'
        )
    return parts


def _open(chart_id: str, css_class: str, title: str, size: str, table_id: str | None) -> str:
    """The chart's root element: an image to assistive technology, named by its title and described by the
    data table under it (`table_id`, by default the chart's id followed by "-table")."""
    return (
        f'<svg id="{_attr(chart_id)}" class="chart {css_class}" {size} role="img" '
        f'aria-label="{_attr(title)}" aria-describedby="{_attr(table_id or chart_id + "-table")}" '
        f'xmlns="http://www.w3.org/2000/svg" font-size="13">'
        f"<title>{escape(title)}</title>"
    )


def bar_chart(
    chart_id: str, title: str, rows: Sequence[Row], kinds: Sequence[Series], *, table_id: str | None = None
) -> Markup:
    """Horizontal bars: each row's label above one bar per series, each bar's amount after it, a legend
    on top and the scale (¥0 to the largest amount) underneath."""
    largest = max((v for row in rows for v in row.values), default=0)
    label_line, bar, gap, after_row, top = 20, 14, 5, 12, 30
    row_height = label_line + len(kinds) * (bar + gap) + after_row
    height = top + len(rows) * row_height + 22
    parts = [_open(chart_id, "chart-bars", title, f'width="100%" height="{height}"', table_id)]
    parts += _legend(kinds, 0)
    y = top
    for row in rows:
        parts.append(
            f'<g><text x="0" y="{y + 14}" fill="{INK}" font-weight="600">{escape(_short(row.label))}</text>'
        )
        bar_y = y + label_line
        # The axis the bars start from and the line the longest bar reaches, beside the bars only (a line
        # through the labels would cross their first letters).
        bottom = bar_y + len(kinds) * (bar + gap) - gap
        parts.append(
            f'<line x1="0.5" y1="{bar_y - 2}" x2="0.5" y2="{bottom + 2}" stroke="{MUTED}"/>'
            f'<line x1="{_number(LONGEST_BAR_PERCENT)}%" y1="{bar_y - 2}" x2="{_number(LONGEST_BAR_PERCENT)}%" '
            f'y2="{bottom + 2}" stroke="{LINE}" stroke-dasharray="3 3"/>'
        )
        for kind, value in zip(kinds, row.values, strict=True):
            percent = LONGEST_BAR_PERCENT * value / largest if largest else 0.0
            if value > 0:
                percent = max(percent, 0.4)  # a small amount still shows as a sliver
                parts.append(
                    f'<rect x="0" y="{bar_y}" width="{_number(percent)}%" height="{bar}" rx="2" '
                    f'fill="{kind.colour}"/>'
                )
            parts.append(
                f'<svg x="{_number(percent)}%" y="{bar_y}" overflow="visible">'
                f'<text x="6" y="{bar - 2}" fill="{INK}" font-size="12">{escape(format_yuan(value))}</text></svg>'
            )
            bar_y += bar + gap
        parts.append("</g>")
        y += row_height
    # The scale: where the bars start, and the amount the longest bar stands for.
    parts.append(f'<text x="0" y="{y + 16}" fill="{MUTED}" font-size="12">{escape(format_yuan(0))}</text>')
    parts.append(
        f'<text x="{_number(LONGEST_BAR_PERCENT)}%" y="{y + 16}" fill="{MUTED}" font-size="12" '
        f'text-anchor="middle">{escape(format_yuan(largest))}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every word above went through escape)


def nice_ceiling(fen: int) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10^k whole yuan at or above this amount: the top of a y axis."""
    if fen <= 0:
        return FEN_PER_YUAN
    step = FEN_PER_YUAN
    while True:
        for factor in (1, 2, 2.5, 5):
            top = int(step * factor)
            if top >= fen:
                return top
        step *= 10


def column_chart(
    chart_id: str, title: str, rows: Sequence[Row], kinds: Sequence[Series], *, table_id: str | None = None
) -> Markup:
    """Columns side by side for each row (month) over a y axis with three ticks; each column's amount is
    written above it, turned upright; the row's label (and note) under the axis."""
    width, height, left, right, top, base = 720, 300, 78, 8, 74, 250
    ceiling = nice_ceiling(max((v for row in rows for v in row.values), default=0))
    slot = (width - left - right) / max(len(rows), 1)
    column = slot * 0.8 / max(len(kinds), 1)
    parts = [
        _open(chart_id, "chart-columns", title, f'viewBox="0 0 {width} {height}" width="100%"', table_id),
        '<g font-size="11">',
    ]
    parts += _legend(kinds, 0)
    parts.append("</g>")
    for tick in (0, ceiling // 2, ceiling):
        y = base - (base - top) * tick / ceiling
        parts.append(
            f'<line x1="{left}" y1="{_number(y)}" x2="{width - right}" y2="{_number(y)}" '
            f'stroke="{MUTED if tick == 0 else LINE}"/>'
            f'<text x="{left - 6}" y="{_number(y + 4)}" fill="{MUTED}" font-size="11" text-anchor="end">'
            f"{escape(format_yuan(tick))}</text>"
        )
    for i, row in enumerate(rows):
        x = left + i * slot + slot * 0.1
        for kind, value in zip(kinds, row.values, strict=True):
            tall = (base - top) * value / ceiling
            if value > 0:
                tall = max(tall, 1.0)
                parts.append(
                    f'<rect x="{_number(x)}" y="{_number(base - tall)}" width="{_number(column - 2)}" '
                    f'height="{_number(tall)}" fill="{kind.colour}"/>'
                )
                centre = x + (column - 2) / 2
                parts.append(
                    f'<text transform="translate({_number(centre)} {_number(base - tall - 4)}) rotate(-90)" '
                    f'dy="0.35em" fill="{INK}" font-size="10">{escape(format_yuan(value))}</text>'
                )
            x += column
        middle = left + (i + 0.5) * slot
        parts.append(
            f'<text x="{_number(middle)}" y="{base + 18}" fill="{INK}" font-size="12" text-anchor="middle">'
            f"{escape(_short(row.label))}</text>"
        )
        if row.note:
            parts.append(
                f'<text x="{_number(middle)}" y="{base + 34}" fill="{MUTED}" font-size="11" '
                f'text-anchor="middle">{escape(row.note)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every word above went through escape)

"""What the transparency page shows of the platform's money: the three charts, in the viewer's language,
with the rows their data tables repeat."""

from __future__ import annotations

from dataclasses import dataclass

from babel.dates import format_skeleton
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _
from markupsafe import Markup

from fundraise.public import charts
from fundraise.public.charts import Row
from fundraise.services.platform_totals import PlatformTotals

# Provinces drawn one by one; the rest are summed in one row (the table under the chart lists every one).
PROVINCES_DRAWN = 8
DISEASES_DRAWN = 10


@dataclass(frozen=True)
class Chart:
    """A chart's id, title and markup (`narrow`: the same numbers drawn for a phone, when it differs), and
    the rows of its data table, every row whole."""

    id: str
    title: str
    svg: Markup
    rows: list[Row]
    first_column: str
    narrow: Markup | None = None


def charts_for(totals: PlatformTotals) -> list[Chart]:
    kinds = charts.series(_("Raised from donors"), _("Paid to hospitals"))
    regions = [Row(s.label or _("Region not recorded"), (s.raised_fen, s.paid_fen)) for s in totals.by_region]
    diseases = [
        Row(s.label or _("Disease not recorded"), (s.raised_fen, s.paid_fen)) for s in totals.by_disease
    ]
    columns, months = [], []
    locale = get_locale()
    for i, month in enumerate(totals.by_month):
        values = (month.raised_fen, month.paid_fen)
        # The year under the first month drawn and under each January.
        note = format_date(month.month, "y") if i == 0 or month.month.month == 1 else ""
        columns.append(Row(format_date(month.month, "MMM"), values, note))
        months.append(Row(format_skeleton("yMMM", month.month, locale=locale), values))
    other_provinces = ngettext(
        "%(num)d other province", "%(num)d other provinces", _others(regions, PROVINCES_DRAWN)
    )
    other_diseases = ngettext(
        "%(num)d other disease category",
        "%(num)d other disease categories",
        _others(diseases, DISEASES_DRAWN),
    )
    by_month = _("Raised and paid to hospitals, month by month")
    by_region = _("Raised and paid to hospitals, by province")
    by_disease = _("Raised and paid to hospitals, by disease")
    return [
        Chart(
            "chart-provinces",
            by_region,
            charts.bar_chart(
                "chart-provinces", by_region, _drawn(regions, PROVINCES_DRAWN, other_provinces), kinds
            ),
            regions,
            _("Province"),
        ),
        Chart(
            "chart-diseases",
            by_disease,
            charts.bar_chart(
                "chart-diseases", by_disease, _drawn(diseases, DISEASES_DRAWN, other_diseases), kinds
            ),
            diseases,
            _("Disease"),
        ),
        Chart(
            "chart-months",
            by_month,
            charts.column_chart("chart-months", by_month, columns, kinds),
            months,
            _("Month"),
            narrow=charts.bar_chart(
                "chart-months-narrow", by_month, months, kinds, table_id="chart-months-table"
            ),
        ),
    ]


def _drawn(rows: list[Row], limit: int, others: str) -> list[Row]:
    """The first `limit` rows, or the first `limit - 1` and the rest summed in one row named `others`."""
    if len(rows) <= limit:
        return rows
    rest = rows[limit - 1 :]
    summed = tuple(sum(values) for values in zip(*(row.values for row in rest), strict=True))
    return [*rows[: limit - 1], Row(others, summed)]


def _others(rows: list[Row], limit: int) -> int:
    return max(len(rows) - limit + 1, 0)

"""The register's printable summary for the officer's file (A4 PDF): the jurisdiction and the date, the
recipients with their total cost and the aid from each source, the recent samples with their seeds, and the
findings, open and resolved. In the reader's language.

Chinese is set in reportlab's built-in CID font STSong-Light: the PDF names the font and the reader's viewer
supplies it (every PDF viewer carries the Adobe Asian font packs' metrics), so no font file is needed here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from fundraise.i18n import locale_name
from fundraise.models import FindingStatus, RegisterSample, User
from fundraise.money import format_yuan
from fundraise.services import findings, sampling
from fundraise.services.register import RegisterFilters, register_totals

FONT = "STSong-Light"
# Findings listed in full; the CSV export has every one.
MAX_FINDINGS = 200

pdfmetrics.registerFont(UnicodeCIDFont(FONT))
BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=13)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10.5, textColor=colors.HexColor("#555555"))
TITLE = ParagraphStyle("title", parent=BODY, fontSize=17, leading=22, spaceAfter=4)
HEADING = ParagraphStyle("heading", parent=BODY, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4)
TABLE_STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), FONT, 8.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
)


def _p(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(rows: Sequence[Sequence[Any]], widths: Sequence[float], numeric: Sequence[int] = ()) -> Table:
    table = Table([list(row) for row in rows], colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    style = TableStyle(TABLE_STYLE.getCommands())
    for column in numeric:
        style.add("ALIGN", (column, 0), (column, -1), "RIGHT")
    table.setStyle(style)
    return table


def _yuan(fen: int) -> str:
    return format_yuan(fen, symbol=False)


def _jurisdiction(user: User) -> tuple[str, str]:
    """The jurisdiction's name in the reader's language and its code; every region for staff."""
    if user.jurisdiction is not None and user.jurisdiction_code:
        return user.jurisdiction.full_name(locale_name()), user.jurisdiction_code
    return _("All jurisdictions"), ""


def _money_rows(prefix: str) -> list[list[Any]]:
    totals = register_totals(prefix, RegisterFilters())
    return [
        [_("Recipients"), f"{totals.recipients:,}"],
        [_("Total cost of treatment (yuan)"), _yuan(totals.total_cost_fen)],
        [_("Basic medical insurance (yuan)"), _yuan(totals.basic_fen)],
        [_("Critical-illness insurance (yuan)"), _yuan(totals.critical_illness_fen)],
        [_("Medical assistance (yuan)"), _yuan(totals.assistance_fen)],
        [_("Relief commitments (yuan)"), _yuan(totals.committed_fen)],
        [_("Donations (yuan)"), _yuan(totals.raised_fen)],
        [_("Total aid (yuan)"), _yuan(totals.total_aid_fen)],
        [_("Paid to hospitals (yuan)"), _yuan(totals.paid_fen)],
    ]


def _sample_rows(samples: Sequence[RegisterSample]) -> list[list[Any]]:
    rows: list[list[Any]] = [
        [_("Sample"), _("Drawn"), _("Seed"), _("Asked for"), _("Drawn / recipients"), _("Campaigns")]
    ]
    for sample in samples:
        asked = (
            _("%(n)d%% of recipients", n=sample.share_percent)
            if sample.share_percent is not None
            else _("%(n)d recipients", n=sample.size or 0)
        )
        rows.append(
            [
                f"#{sample.id}",
                format_datetime(sample.created_at, "short"),
                str(sample.seed),
                asked,
                f"{len(sample.campaign_ids)} / {sample.population}",
                _p(", ".join(f"#{i}" for i in sample.campaign_ids), SMALL),
            ]
        )
    return rows


def _finding_rows(user: User) -> list[list[Any]]:
    labels = {FindingStatus.OPEN.value: _("Open"), FindingStatus.RESOLVED.value: _("Resolved")}
    rows: list[list[Any]] = [[_("Finding"), _("Campaign"), _("Title"), _("Status"), _("Recorded")]]
    page = findings.list_findings(user, per_page=MAX_FINDINGS)
    for finding in page.items:
        text = escape(finding.title)
        if finding.resolution:
            text += "<br/>" + escape(_("Resolution: %(text)s", text=finding.resolution))
        rows.append(
            [
                f"#{finding.id}",
                f"#{finding.campaign_id}",
                Paragraph(text, BODY),
                labels.get(finding.status, finding.status),
                format_date(finding.created_at.date(), "short"),
            ]
        )
    return rows


def summary_pdf(user: User, today: date | None = None) -> bytes:
    """The summary of what this reader may see (their jurisdiction; everything for staff) as PDF bytes."""
    name, code = _jurisdiction(user)
    prefix = user.jurisdiction_prefix or ""
    printed_on = today or date.today()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Aidbridge register summary {code or 'all'} {printed_on.isoformat()}",
        subject=f"jurisdiction {code or 'all'}",
        author="Aidbridge",
        invariant=1,
    )
    width = document.width
    counts = findings.status_counts(user)
    samples = sampling.recent_samples(user, limit=10)
    story: list[Any] = [
        _p(_("Register summary"), TITLE),
        _p(f"{name}" + (f" ({code})" if code else "")),
        _p(_("Printed %(date)s by %(who)s", date=format_date(printed_on, "long"), who=user.name), SMALL),
        Spacer(1, 4 * mm),
        _p(_("Recipients and aid"), HEADING),
        _table(_money_rows(prefix), [width * 0.6, width * 0.4], numeric=[1]),
        _p(_("Recent samples"), HEADING),
    ]
    if samples:
        story.append(
            _table(
                _sample_rows(samples),
                [width * w for w in (0.08, 0.16, 0.14, 0.18, 0.14, 0.30)],
            )
        )
    else:
        story.append(_p(_("No sample drawn yet."), SMALL))
    story.append(_p(_("Findings"), HEADING))
    story.append(
        _p(
            _(
                "%(open)d open, %(resolved)d resolved.",
                open=counts[FindingStatus.OPEN.value],
                resolved=counts[FindingStatus.RESOLVED.value],
            )
        )
    )
    if sum(counts.values()):
        story.append(Spacer(1, 2 * mm))
        story.append(_table(_finding_rows(user), [width * w for w in (0.1, 0.12, 0.5, 0.12, 0.16)]))
        if sum(counts.values()) > MAX_FINDINGS:
            story.append(
                _p(
                    _("The latest %(n)d findings are listed; the CSV export has every one.", n=MAX_FINDINGS),
                    SMALL,
                )
            )
    document.build(story)
    return buffer.getvalue()

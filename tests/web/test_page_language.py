"""Every page of every role reads in one language. In Chinese: no English words or raw codes outside what
people wrote (marked with its own lang attribute) and identifiers. In English: no Chinese character outside an
element marked lang="zh-CN" (what people wrote: titles, names, messages, stories; and names from the reference
data that have no English form). Walked over the demo, which has a campaign, a report, a disbursement and a
relief project of every kind, so the pages have their real content."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, ClassVar

import pytest
from flask import Flask
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignReport,
    Disbursement,
    Donation,
    Hospital,
    MatchRun,
    Offer,
    ReliefProject,
    Role,
    User,
)
from fundraise.services.demo import DEMO_PASSWORD, seed_demo

# Words that are the same in both languages: the brand, formats, standards, the language switch itself.
ALLOWED_ENGLISH = {
    "aidbridge",
    "english",
    "pdf",
    "csv",
    "png",
    "jpeg",
    "jpg",
    "json",
    "api",
    "openapi",
    "icd",
    "sha",
    "ed25519",
    "wechat",
    "http",
    "https",
    "sandbox",  # the SANDBOX banner's code word is shown in both languages beside its translation
    "stripe",
    "cny",
    "qr",
    "excel",  # product and format names in the records import's help
    "wps",
    "xlsx",
    "utf",
}
# Text that is an identifier, not language: e-mails, URLs, codes with digits, file names.
IDENTIFIER = re.compile(
    r"[\w.+-]+@[\w.-]+|https?://\S+|\b[\w-]*\d[\w-]*\b|\b[\w-]+\.(?:pdf|png|jpe?g|csv)\b|/[\w/.-]+", re.I
)
# Words with a lower-case letter: ALL-CAPS tokens are codes and acronyms (BJ-FUWAI, MRD, GBK), not language.
ENGLISH_WORD = re.compile(r"\b(?=[A-Za-z]*[a-z])[A-Za-z]{3,}\b")
RAW_CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")
# Chinese characters and the full-width punctuation that only Chinese text uses.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff5e]+")


class VisibleText(HTMLParser):
    """The page's visible text, leaving out scripts, styles and anything inside an element marked as another
    language: on a Chinese page any lang attribute (people's words, the language switch), on an English page
    only a Chinese one (lang="zh-CN"), so Chinese inside a lang="en" element still counts. A text box's
    content is what the person typed (like an input's value). On an English page the document title is left
    out too: it is plain text that cannot mark a campaign's title inside it ("Give to 小明… · Aidbridge")."""

    SKIP: ClassVar[set[str]] = {"script", "style", "template", "noscript", "svg", "code", "pre", "textarea"}
    VOID: ClassVar[set[str]] = {
        "br",
        "img",
        "input",
        "meta",
        "link",
        "hr",
        "source",
        "wbr",
        "col",
        "area",
        "base",
        "embed",
        "track",
    }

    def __init__(self, skip_lang: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.skip_lang = skip_lang
        self.skip = self.SKIP | ({"title"} if skip_lang else set())
        self.depth_skipped: list[str] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        names = dict(attrs)
        lang = names.get("lang")
        other_language = lang is not None and tag != "html" and lang.lower().startswith(self.skip_lang)
        if self.depth_skipped or tag in self.skip or other_language:
            self.depth_skipped.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if self.depth_skipped:
            self.depth_skipped.pop()

    def handle_data(self, data: str) -> None:
        if not self.depth_skipped:
            self.parts.append(data)


def visible_text(html: str, skip_lang: str = "") -> str:
    parser = VisibleText(skip_lang)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_in(text: str) -> list[str]:
    text = IDENTIFIER.sub(" ", text)
    words = [w for w in ENGLISH_WORD.findall(text) if w.lower() not in ALLOWED_ENGLISH]
    return words + RAW_CODE.findall(text)


def chinese_in(text: str) -> list[str]:
    return CJK.findall(text)


def _ids() -> dict[str, Any]:
    """One id of each thing a URL can name, taken from the demo."""

    def first(model: Any, *where: Any) -> int:
        found = db.session.scalar(select(model.id).where(*where).order_by(model.id))
        return int(found or 1)

    return {
        "campaign_id": first(Campaign, Campaign.state == "fundraising"),
        "report_id": first(CampaignReport),
        "disbursement_id": first(Disbursement),
        "donation_id": first(Donation, Donation.status == "succeeded"),
        "hospital_id": first(Hospital),
        "project_id": first(ReliefProject),
        "run_id": first(MatchRun),
        "offer_id": first(Offer),
        "user_id": first(User),
        "batch_id": 1,
        "account_id": 1,
        "token_id": 1,
        "document_id": 1,
        "step": "patient",
        "code": "en",
    }


def _pages(app: Flask, ids: dict[str, Any]) -> list[str]:
    pages = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" not in rule.methods
            or rule.rule.startswith(("/api/", "/static"))
            or rule.endpoint == "static"
        ):
            continue
        if rule.endpoint in ("auth.logout", "auth.language", "public.short_link", "metrics.metrics"):
            continue
        if any(
            part in rule.rule for part in (".png", ".csv", ".pdf", ".json", ".txt", "/documents/", "healthz")
        ):
            continue

        def fill(match: re.Match[str]) -> str:
            return str(ids.get(match.group(1).split(":")[-1], 1))

        pages.append(re.sub(r"<([^>]+)>", fill, rule.rule))
    return sorted(set(pages))


LOGINS = {
    None: None,
    Role.FAMILY: "family1",
    Role.DONOR: "donor",
    Role.SOCIAL_WORKER: "socialworker",
    Role.CHARITY_STAFF: "staff",
    Role.CIVIL_AFFAIRS_OFFICER: "officer",
    Role.ADMIN: "admin",
}


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_page_reads_in_one_language(app: Flask, language: str) -> None:
    seed_demo()
    ids = _ids()
    pages = _pages(app, ids)
    problems: list[str] = []
    for role, local in LOGINS.items():
        client = app.test_client()
        if local is not None:
            response = client.post(
                "/login", data={"email": f"{local}@demo.aidbridge.cn", "password": DEMO_PASSWORD}
            )
            assert response.status_code == 302, local
        client.get(f"/language/{language}")
        for path in pages:
            response = client.get(path)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            html = response.get_data(as_text=True)
            if language == "zh_CN":
                found = english_in(visible_text(html))
            else:
                found = chinese_in(visible_text(html, skip_lang="zh"))
            if found:
                problems.append(f"{role or 'anonymous'} {path}: {sorted(set(found))[:12]}")
    assert problems == [], "\n".join(problems)

"""Headings never skip a level (axe-core's heading-order: the browse page went from h1 straight to each card's
h3), so a screen reader's outline of a page reads as the page does."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from fundraise.extensions import db
from tests.factories import CampaignFactory


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.levels: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.levels.append(int(tag[1]))


def skipped_levels(html: str) -> list[tuple[int, int]]:
    parser = _Headings()
    parser.feed(html)
    return [(a, b) for a, b in zip(parser.levels, parser.levels[1:], strict=False) if b > a + 1]


def test_the_check_catches_a_skip() -> None:
    assert skipped_levels("<h1>a</h1><h3>b</h3>") == [(1, 3)]
    assert skipped_levels("<h1>a</h1><h2>b</h2><h3>c</h3><h2>d</h2>") == []


@pytest.mark.parametrize("path", ["/", "/campaigns", "/transparency"])
def test_public_pages_never_skip_a_heading_level(client: FlaskClient, path: str) -> None:
    for _ in range(3):
        CampaignFactory(state="fundraising")
    db.session.commit()
    page = client.get(path)
    assert page.status_code == 200
    assert skipped_levels(page.get_data(as_text=True)) == []

"""The coverage bar's white percentage labels are readable: every part's background gives white text at least
4.5:1 (WCAG 2.1 AA for text of this size; axe-core flagged 3.1:1 and 3.3:1)."""

from __future__ import annotations

import re
from pathlib import Path

APP_CSS = Path(__file__).resolve().parents[2] / "fundraise" / "static" / "app.css"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(hex_colour: str) -> float:
    return 1.05 / (_luminance(hex_colour) + 0.05)


def test_the_formula_gives_the_known_ratios() -> None:
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#c9822b"), 2) == 3.13  # the old gap colour axe-core reported


def test_every_part_of_the_coverage_bar_gives_its_white_label_4_5_to_1() -> None:
    css = APP_CSS.read_text(encoding="utf-8")
    parts = dict(
        re.findall(
            r"\.cascade-(basic|critical_illness|assistance|gap) \{ background: (#[0-9a-fA-F]{6}); \}", css
        )
    )
    assert set(parts) == {"basic", "critical_illness", "assistance", "gap"}, parts
    assert ".cascade-part { " in css
    assert "color: #fff" in css.split(".cascade-part { ", 1)[1].split("}", 1)[0]
    low = {
        name: round(contrast_with_white(colour), 2)
        for name, colour in parts.items()
        if contrast_with_white(colour) < 4.5
    }
    assert low == {}

"""Both languages are whole: every message the code and templates use has a Chinese translation.

Extracts the messages afresh (as `make extract` does) and compares them with the zh_CN catalogue, so a new
English string without its translation fails here, not on a family's screen.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
ZH_CATALOGUE = ROOT / "fundraise" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _used_messages() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_has_a_chinese_translation() -> None:
    with open(ZH_CATALOGUE, "rb") as handle:
        catalogue = read_po(handle)
    translated = {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalogue
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    missing = sorted(_used_messages() - translated)
    assert missing == [], (
        f"{len(missing)} messages lack a zh_CN translation (run make extract, then translate): {missing[:20]}"
    )

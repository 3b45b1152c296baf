"""Rules for text people type: which characters a single-line or a multi-line field may hold.

A single-line field (a title, a name, a contact) is shown in headings and e-mail subjects, where a line break
either breaks the layout or, in an e-mail header, stops the message being sent at all; so it may hold no
control character and no line or paragraph separator. A multi-line field (a story, a message) may hold line
breaks and tabs, and no other control character (NUL cannot even be stored by PostgreSQL).
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

# C0 controls, DEL, C1 controls, and Unicode's line and paragraph separators.
_NOT_ON_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def fits_one_line(value: str) -> bool:
    return _NOT_ON_ONE_LINE.search(value) is None


def fits_text(value: str) -> bool:
    return _NOT_IN_TEXT.search(value) is None


def text_problem(value: str, *, one_line: bool) -> str | None:
    """What is wrong with a typed value for its kind of field, in the reader's language; None when nothing."""
    if one_line and not fits_one_line(value):
        return str(_("Keep this on one line, without line breaks or control characters."))
    if not fits_text(value):
        return str(_("Remove the control characters from this text (they cannot be shown or stored)."))
    return None


def one_line(value: str) -> str:
    """The text with every control character and line break made a single space: for what we write where
    one line is required (an e-mail subject), whatever was stored before these rules existed."""
    return " ".join(_NOT_ON_ONE_LINE.sub(" ", value).split())

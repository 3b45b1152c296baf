"""The privacy notice page, /privacy: open to everyone, in the reader's language, with its version, so the
consents that cite the version can be read against it."""

from __future__ import annotations

from typing import Any

from flask import render_template

from fundraise import privacy_notice
from fundraise.access import public
from fundraise.public.routes import bp


@bp.route("/privacy")
@public
def privacy() -> Any:
    return render_template(
        "public/privacy.html",
        version=privacy_notice.NOTICE_VERSION,
        collected=privacy_notice.COLLECTED,
        purposes=privacy_notice.PURPOSES,
        recipients=privacy_notice.RECIPIENTS,
        retention=privacy_notice.retention_rows(),
    )

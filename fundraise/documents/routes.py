"""`/documents/<id>`: photos to anyone who may see the campaign, evidence only to its reviewers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, send_file

from fundraise.access import current_user_or_none, public
from fundraise.services.documents import open_for

bp = Blueprint("documents", __name__)


@bp.route("/documents/<int:document_id>")
@public  # the per-document rule is applied by open_for(): public photos vs private evidence
def show(document_id: int) -> Any:
    document, path = open_for(document_id, current_user_or_none())
    response = send_file(
        path,
        mimetype=document.content_type,
        as_attachment=document.content_type == "application/pdf",
        download_name=document.original_name,
        conditional=True,
        max_age=3600 if document.is_public else 0,
    )
    response.headers["Cache-Control"] = "public, max-age=3600" if document.is_public else "private, no-store"
    # A PDF opened inline could run scripts in some viewers; images are re-encoded and safe inline.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response

"""Files a page or the API streams to the reader's disk: a CSV export, the bank file.

Every such file holds people's (masked) data or money, so it is never kept by a shared cache, and it is
streamed in the request's context (the generator reads the database after the view has returned)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from flask import Response, stream_with_context


def csv_attachment(lines: Iterator[str], name: str) -> Response:
    """A streamed CSV download named `<name>-<today>.csv`, kept out of shared caches."""
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{date.today().isoformat()}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


__all__ = ["csv_attachment"]

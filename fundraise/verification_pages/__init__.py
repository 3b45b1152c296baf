"""Verification pages: the family's report, records imports, and staff tools for changed outcomes."""

from fundraise.verification_pages.routes import init_app

__all__ = ["init_app"]

"""Verification pages: the family's report and the template globals that show reports on other pages."""

from fundraise.verification_pages.routes import init_app

__all__ = ["init_app"]

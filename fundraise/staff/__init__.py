"""Staff pages: the staff blueprint (url_prefix /staff) and the modules that add their views to it."""

from fundraise.staff import refunds, reports, verification  # noqa: F401  (add their views to the blueprint)
from fundraise.staff.routes import bp

__all__ = ["bp"]

"""Disbursement pages (request, detail and decisions, the staff queue, the bank file) and the admins' pages
for hospitals' settlement accounts."""

from fundraise.payouts import settlement  # noqa: F401  (adds the settlement-account views to the blueprint)
from fundraise.payouts.routes import bp

__all__ = ["bp"]

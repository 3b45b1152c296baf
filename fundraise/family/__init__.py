"""family pages."""

from fundraise.family import close_out, consent, evidence  # noqa: F401  (add their views to the blueprint)

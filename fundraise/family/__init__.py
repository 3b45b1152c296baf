"""family pages."""

from fundraise.family import close_out, evidence  # noqa: F401  (add their views to the blueprint)

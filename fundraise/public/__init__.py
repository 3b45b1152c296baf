"""public pages."""

from fundraise.public import privacy  # noqa: F401  (adds the privacy notice to the blueprint)

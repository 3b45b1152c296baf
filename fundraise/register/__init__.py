"""The officers' register of recipients (one row per campaign with its aid and anomaly flags), and its
samples, findings and printable summary."""

from fundraise.register import findings  # noqa: F401  (adds samples, findings and the summary to the blueprint)
from fundraise.register.routes import bp

__all__ = ["bp"]

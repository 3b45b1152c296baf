"""The person's rights over their data (PIPL arts. 44-47): see and copy it (/account/data and its archive),
correct it, ask for its deletion, and see who looked; and the admins' list of deletion requests."""

from fundraise.rights.routes import bp

__all__ = ["bp"]

"""Pure domain rules for verifying a campaign: identity numbers, the disease catalogue, coverage, eligibility.

This package imports neither Flask nor SQLAlchemy. It takes plain data (dataclasses, strings, dates) and
returns plain results, so it can be tested without a database and reused by jobs and the API alike.
"""

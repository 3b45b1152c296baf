"""Pure domain: relief-project eligibility and the allocation solver. Imports neither Flask nor SQLAlchemy."""

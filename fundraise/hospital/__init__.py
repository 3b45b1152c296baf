"""hospital pages."""

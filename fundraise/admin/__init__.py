"""admin pages."""

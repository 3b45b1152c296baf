"""public pages."""

"""staff pages."""

"""family pages."""

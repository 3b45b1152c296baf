"""Serving uploaded files to those allowed to see them."""

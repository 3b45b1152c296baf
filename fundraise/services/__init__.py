"""Service functions: load rows, call the pure core, store the result, own the commit."""

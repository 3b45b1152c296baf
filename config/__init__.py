"""Settings classes and reference data files (regions, hospitals, disease catalogue)."""

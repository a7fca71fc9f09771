"""pegkeeper."""

"""Long-running async units that join domain rules to ports."""

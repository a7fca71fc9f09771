"""Entry points for other programs and people."""

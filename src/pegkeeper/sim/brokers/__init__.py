"""Local servers that speak brokers' JSON wire formats, for tests and local runs."""

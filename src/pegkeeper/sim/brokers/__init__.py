"""Local servers that answer as the brokerages do, for tests and local runs."""

"""The backtester: real price paths replayed through the production hedger on the simulated
exchange, and the report that compares hedge policies."""

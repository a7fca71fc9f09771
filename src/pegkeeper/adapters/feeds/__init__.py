"""Market data feeds: exchange WebSockets and recorded captures."""

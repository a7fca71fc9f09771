"""A local exchange that speaks OKX v5 (REST and WebSockets) around the simulated engine."""

"""The simulated exchange: engine, price paths, wire servers, backtester."""

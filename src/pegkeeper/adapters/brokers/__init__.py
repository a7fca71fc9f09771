"""Brokerages the equity hedger hedges at, each behind the Broker port."""

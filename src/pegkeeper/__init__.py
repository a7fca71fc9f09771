"""pegkeeper: keeps synthetic assets pegged by hedging the exposure they create."""

__version__ = "0.1.0"

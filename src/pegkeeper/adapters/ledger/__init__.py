"""Wallet ledgers the liability is read from: a Galoy (Blink) dealer account, a SQL query."""

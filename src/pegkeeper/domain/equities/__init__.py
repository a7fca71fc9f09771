"""The tokenized-equity hedger's rules: Raindex fills read from the chain, per-symbol
accumulation, broker orders, the fill-to-hedge ledger and FIFO P&L."""

"""The tokenized-equity hedger's services: chain ingestion, the hedger, the ledger's
reconciler, FIFO P&L and the operators' switches."""

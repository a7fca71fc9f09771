"""Unit tests of the tokenized-equity hedger's domain rules."""

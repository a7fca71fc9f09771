"""Onchain wallets behind the Wallet port: simulated, and a Bitcoin Core node."""

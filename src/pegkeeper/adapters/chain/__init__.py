"""Chain adapters: the Raindex orderbook read over JSON-RPC (web3.py)."""

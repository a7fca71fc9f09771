"""A local stand-in for Circle's CCTP attestation service (Iris), for the bridge's tests."""

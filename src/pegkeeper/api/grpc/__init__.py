"""gRPC entry points: the price and quote services of specs/price-service.md."""

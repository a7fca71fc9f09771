"""The generated message and stub modules, made first if missing or out of date."""

from __future__ import annotations

from pegkeeper.api.grpc.codegen import ensure_generated

ensure_generated()

from pegkeeper.api.grpc.generated.services.price.v1 import (  # noqa: E402
    price_service_pb2 as price_pb2,
)
from pegkeeper.api.grpc.generated.services.price.v1 import (  # noqa: E402
    price_service_pb2_grpc as price_grpc,
)
from pegkeeper.api.grpc.generated.services.quotes.v1 import (  # noqa: E402
    quote_service_pb2 as quotes_pb2,
)
from pegkeeper.api.grpc.generated.services.quotes.v1 import (  # noqa: E402
    quote_service_pb2_grpc as quotes_grpc,
)

PRICE_SERVICE = "services.price.v1.PriceService"
QUOTE_SERVICE = "services.quotes.v1.QuoteService"

__all__ = ["PRICE_SERVICE", "QUOTE_SERVICE", "price_grpc", "price_pb2", "quotes_grpc", "quotes_pb2"]

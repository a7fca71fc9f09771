"""Identifiers pegkeeper chooses: client order ids (1 to 32 alphanumerics), correlation ids."""

from __future__ import annotations

import uuid


def new_client_order_id(prefix: str = "pk") -> str:
    return f"{prefix}{uuid.uuid4().hex}"[:32]


def new_correlation_id() -> str:
    return uuid.uuid4().hex

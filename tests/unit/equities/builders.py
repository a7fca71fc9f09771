"""Small builders for the equity tests: addresses, log references, fills, orders, reports."""

from __future__ import annotations

from decimal import Decimal

from pegkeeper.domain.equities.assets import EquityAsset, EquityUniverse
from pegkeeper.domain.equities.broker import (
    BrokerFill,
    BrokerOrderIntent,
    BrokerOrderReport,
    BrokerOrderState,
)
from pegkeeper.domain.equities.chain import (
    Generation,
    LogRef,
    OnchainFill,
    OnchainSide,
)
from pegkeeper.domain.orders import OrderSide

D = Decimal

OWNER = "0x" + "0a" * 20
OTHER = "0x" + "0b" * 20
USDC = "0x" + "c0" * 20
T_AAPL = "0x" + "a1" * 20
WT_AAPL = "0x" + "a2" * 20
T_MSFT = "0x" + "b1" * 20
SPOOF = "0x" + "ee" * 20


def universe() -> EquityUniverse:
    return EquityUniverse.of(
        OWNER,
        USDC,
        (
            EquityAsset("AAPL", (T_AAPL,), (WT_AAPL,)),
            EquityAsset("MSFT", (T_MSFT,)),
        ),
    )


def ref(block: int = 100, log_index: int = 0, tx: int = 1, ts_s: int | None = None) -> LogRef:
    return LogRef(
        block_number=block,
        block_hash=f"0x{block:064x}",
        tx_hash=f"0x{tx:064x}",
        log_index=log_index,
        block_timestamp_s=block * 2 if ts_s is None else ts_s,
    )


def onchain(
    symbol: str,
    signed_shares: str | Decimal,
    usdc: str | Decimal,
    *,
    block: int,
    log_index: int = 0,
    tx: int | None = None,
    ts_s: int | None = None,
) -> OnchainFill:
    shares = D(signed_shares)
    return OnchainFill(
        ref=ref(block, log_index, block * 1000 + log_index if tx is None else tx, ts_s),
        generation=Generation.V5,
        symbol=symbol,
        side=OnchainSide.BOUGHT if shares > 0 else OnchainSide.SOLD,
        shares=abs(shares),
        usdc=D(usdc),
        token=T_AAPL,
    )


def intent(
    coid: str, symbol: str, side: OrderSide, quantity: str | Decimal, at_ms: int = 0
) -> BrokerOrderIntent:
    return BrokerOrderIntent(coid, symbol, side, D(quantity), at_ms)


def report(
    coid: str,
    state: BrokerOrderState,
    *fills: tuple[str, str | Decimal, str | Decimal, int],
    message: str = "",
) -> BrokerOrderReport:
    """`fills` as (fill id, quantity, price, ts_ms), cumulative as a broker reports them."""
    return BrokerOrderReport(
        coid,
        state,
        broker_order_id=f"b-{coid}",
        fills=tuple(BrokerFill(fid, D(q), D(p), ts) for fid, q, p, ts in fills),
        message=message,
    )


def upper(address: str) -> str:
    """The address with upper-case hex digits, as a checksummed address mixes them."""
    return "0x" + address[2:].upper()

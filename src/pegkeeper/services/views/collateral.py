"""What the treasury operator sees of the funding manager: per collateral account (a venue's,
in one currency) the live leverage and liquidation distance, the money moving and moved, fee
bumps, rolls, alerts."""

from __future__ import annotations

from dataclasses import dataclass

from pegkeeper.domain.collateral import (
    AlertRecord,
    CollateralDecisionRecord,
    FeeBump,
    LeverageSnapshot,
    OperationRecord,
)
from pegkeeper.domain.errors import VenueError
from pegkeeper.domain.instruments import collateral_currency
from pegkeeper.domain.records import PositionSnapshot
from pegkeeper.domain.roll import RollRecord
from pegkeeper.domain.venue import PRIMARY_VENUE
from pegkeeper.ports import Store, Wallet
from pegkeeper.services.collateral.manager import CollateralManager
from pegkeeper.services.collateral.reading import AccountState
from pegkeeper.services.views.risk import RiskFigures, freshest


@dataclass(frozen=True, slots=True)
class AccountView:
    currency: str
    policy: str
    state: AccountState | None  # None until the first reading
    last_snapshot: LeverageSnapshot | None
    risk: RiskFigures | None = None  # leverage and liquidation, the freshest reading
    venue: str = PRIMARY_VENUE


@dataclass(frozen=True, slots=True)
class CollateralStatus:
    enabled: bool
    accounts: list[AccountView]
    wallet: str | None  # the wallet's kind; None: no onchain wallet
    wallet_balance_sats: int | None  # None when it could not be read
    open_operations: list[OperationRecord]
    recent_operations: list[OperationRecord]
    fee_bumps: list[FeeBump]  # of the recent operations
    decisions: list[CollateralDecisionRecord]
    alerts: list[AlertRecord]
    rolls: list[RollRecord]


class CollateralView:
    def __init__(
        self, store: Store, services: list[CollateralManager], wallet: Wallet | None
    ) -> None:
        self._store = store
        self._services = services
        self._wallet = wallet

    async def status(self, limit: int = 20) -> CollateralStatus:
        funding = self._store.funding
        snapshots = await funding.recent_leverage(50)
        position = await self._store.hedge.last_position()
        accounts = [
            AccountView(
                currency=s.settings.currency,
                policy=s.policy.name,
                state=s.state,
                last_snapshot=next(
                    (
                        x
                        for x in snapshots
                        if (x.venue, x.currency) == (s.settings.venue_name, s.settings.currency)
                    ),
                    None,
                ),
                risk=freshest(_margined_in(position, s.settings.currency, s.state), s.state),
                venue=s.settings.venue_name,
            )
            for s in self._services
        ]
        recent = await funding.recent_operations(limit)
        bumps = [b for r in recent for b in await funding.fee_bumps(r.operation.operation_id)]
        return CollateralStatus(
            enabled=bool(self._services),
            accounts=accounts,
            wallet=self._wallet.name if self._wallet is not None else None,
            wallet_balance_sats=await self._wallet_balance(),
            open_operations=await funding.open_operations(),
            recent_operations=recent,
            fee_bumps=bumps,
            decisions=await funding.recent_decisions(limit),
            alerts=await funding.recent_alerts(limit),
            rolls=await self._store.rolls.recent_rolls(limit),
        )

    async def transfers(self, limit: int) -> list[OperationRecord]:
        """The money the funding manager moved and moves (transfers between the venue's
        accounts, deposits, withdrawals), newest first."""
        return await self._store.funding.recent_operations(limit)

    async def _wallet_balance(self) -> int | None:
        if self._wallet is None:
            return None
        try:
            return await self._wallet.balance_sats()
        except (VenueError, OSError, TimeoutError):
            return None


def _margined_in(
    position: PositionSnapshot | None, currency: str, state: AccountState | None
) -> PositionSnapshot | None:
    """The hedger's snapshot, where it is of a position this account margins (with several
    venues, of one of the instruments the account read)."""
    if position is None or collateral_currency(position.instrument_id) != currency:
        return None
    held = {h.instrument.instrument_id for h in state.held} if state is not None else set()
    if held and position.instrument_id not in held:
        return None
    return position

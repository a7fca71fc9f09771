"""What ingestion makes of one range read: each event classified by the domain's rules with
the token facts it needs read from the chain (each token's decimals once, a wrapper's ratio
at the event's block), each undecodable log kept as a skipped one.

A token read the contract refuses (ChainCallReverted: a reverting `decimals()`, a wrapper
without `convertToAssets`, no contract at the address) skips that log as TOKEN_UNREADABLE,
never the range; a node that did not answer (any other ChainError, a timeout) fails the
range, which is read again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from pegkeeper.domain.equities.assets import EquityUniverse
from pegkeeper.domain.equities.chain import (
    OnchainFill,
    RaindexEvent,
    RangeRead,
    SkippedLog,
    SkipReason,
    TokenInfo,
)
from pegkeeper.domain.equities.raindex import classify, maker_trade
from pegkeeper.domain.errors import ChainCallReverted, InvalidInput
from pegkeeper.ports import ChainSource

Call = Callable[[Awaitable[Any]], Awaitable[Any]]


def token_keys(universe: EquityUniverse) -> dict[str, str]:
    """Each configured address with the configuration key that names it."""
    keys = {universe.usdc: "equities.usdc"}
    for i, asset in enumerate(universe.assets):
        for j, token in enumerate(asset.tokens):
            keys[token] = f"equities.assets[{i}].tokens[{j}] ({asset.symbol})"
        for j, token in enumerate(asset.wrapped_tokens):
            keys[token] = f"equities.assets[{i}].wrapped_tokens[{j}] ({asset.symbol})"
    return keys


class Classifier:
    def __init__(self, chain: ChainSource, universe: EquityUniverse, call: Call) -> None:
        self._chain = chain
        self._universe = universe
        self._call = call  # a request with ingestion's timeout
        self._tokens: dict[str, TokenInfo] = {}

    def remember(self, info: TokenInfo) -> None:
        self._tokens[info.address.lower()] = info

    def tokens(self) -> dict[str, TokenInfo]:
        return dict(self._tokens)

    async def classify(self, read: RangeRead) -> tuple[list[OnchainFill], list[SkippedLog]]:
        fills: list[OnchainFill] = []
        skipped = [SkippedLog(u.ref, SkipReason.UNDECODABLE, u.reason) for u in read.undecodable]
        ratios: dict[tuple[str, int], Decimal] = {}
        for event in read.events:
            outcome = await self._one(event, ratios)
            if isinstance(outcome, OnchainFill):
                fills.append(outcome)
            else:
                skipped.append(outcome)
        return fills, skipped

    async def _one(
        self, event: RaindexEvent, ratios: dict[tuple[str, int], Decimal]
    ) -> OnchainFill | SkippedLog:
        try:
            trade = maker_trade(event, self._universe.order_owner)
        except InvalidInput:  # an IO index outside the order: the domain skips it
            trade = None
        tokens: dict[str, TokenInfo] = {}
        shares_per_token: dict[str, Decimal] = {}
        if trade is not None:
            for address in (trade.input_token.lower(), trade.output_token.lower()):
                role = self._universe.role(address)
                if role is None and address != self._universe.usdc:
                    continue  # not configured: the domain says why it is skipped
                try:
                    tokens[address] = await self._token(address)
                    if role is not None and role.wrapped:
                        block = event.ref.block_number
                        shares_per_token[address] = await self._ratio(address, block, ratios)
                except ChainCallReverted as error:  # the same answer every time: skip it
                    detail = f"{address}: {error}"
                    return SkippedLog(event.ref, SkipReason.TOKEN_UNREADABLE, detail)
        return classify(event, self._universe, tokens, shares_per_token)

    async def _token(self, address: str) -> TokenInfo:
        info = self._tokens.get(address)
        if info is None:
            info = await self._call(self._chain.token(address))
            self._tokens[address] = info
        return info

    async def _ratio(
        self, wrapper: str, block: int, ratios: dict[tuple[str, int], Decimal]
    ) -> Decimal:
        key = (wrapper, block)
        if key not in ratios:
            ratios[key] = await self._call(self._chain.shares_per_token(wrapper, block))
        return ratios[key]

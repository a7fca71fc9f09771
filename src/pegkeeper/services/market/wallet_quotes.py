"""Quotes with ids: priced from the current book, stored, accepted once before they expire.

Accepting a quote appends a liability event whose id is the quote id, in the same transaction
that marks the quote accepted, and then tells the hedger, which follows at once. A quote asked
with immediate execution is created and accepted in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import structlog

from pegkeeper.domain.quote_math import Direction
from pegkeeper.domain.quotes import (
    Quote,
    QuoteNotFound,
    QuoteState,
    parse_quote_id,
    price_amounts,
)
from pegkeeper.ports import Clock, QuoteRepository
from pegkeeper.services.ledger.liability import LiabilityService
from pegkeeper.services.market.pricer import Pricer

log = structlog.get_logger("pegkeeper.quotes")

SOURCE = "quote"


class QuoteService:
    def __init__(
        self,
        pricer: Pricer,
        repository: QuoteRepository,
        liability: LiabilityService,
        clock: Clock,
        *,
        expiration_ms: int = 120_000,
    ) -> None:
        self._pricer = pricer
        self._repository = repository
        self._liability = liability
        self._clock = clock
        self._expiration_ms = expiration_ms

    async def quote(
        self,
        direction: Direction,
        *,
        sats: int | None = None,
        cents: int | None = None,
        immediate: bool = False,
    ) -> Quote:
        """A new stored quote; with `immediate`, already accepted. Raises InvalidInput,
        BookUnavailable, or ConflictError when an immediate quote is refused by the ledger."""
        book = self._pricer.book()
        priced = price_amounts(
            book, direction, self._pricer.fee_rate(immediate), sats=sats, cents=cents
        )
        now_ms = self._clock.now_ms()
        quote = Quote(
            quote_id=str(uuid.uuid4()),
            direction=direction,
            immediate_execution=immediate,
            amount_sats=priced.amount_sats,
            amount_cents=priced.amount_cents,
            fee_rate=priced.fee_rate,
            fee_cents=priced.fee_cents,
            book_source=book.source,
            book_ts_ms=book.ts_ms,
            created_at_ms=now_ms,
            expires_at_ms=now_ms + self._expiration_ms,
        )
        # Validated before anything is stored, so a quote that could never be accepted (beyond
        # the ledger's largest change) is refused now.
        entry = self._liability.entry(
            quote.quote_id, quote.liability_delta_cents, _memo(quote), SOURCE
        )
        if not immediate:
            await self._repository.create(quote)
            return quote
        accepted = _accepted(quote, now_ms)
        event = await self._repository.create(accepted, entry)
        if event is not None:
            await self._liability.announce(event)
        log.info("quote executed", quote_id=quote.quote_id, delta_cents=entry.change.delta_cents)
        return accepted

    async def accept(self, quote_id: str) -> Quote:
        """Raises InvalidInput (malformed id), QuoteNotFound, QuoteNotAcceptable (expired or
        accepted before) or ConflictError (the ledger refused); then nothing changed."""
        quote_id = parse_quote_id(quote_id)
        quote = await self._repository.get(quote_id)
        if quote is None:
            raise QuoteNotFound(f"no quote with id {quote_id}")
        now_ms = self._clock.now_ms()
        quote.check_acceptable(now_ms)
        entry = self._liability.entry(quote_id, quote.liability_delta_cents, _memo(quote), SOURCE)
        accepted, event, created = await self._repository.accept(quote_id, now_ms, entry)
        if created:
            await self._liability.announce(event)
        log.info("quote accepted", quote_id=quote_id, delta_cents=event.delta_cents)
        return accepted

    async def get(self, quote_id: str) -> Quote:
        quote = await self._repository.get(parse_quote_id(quote_id))
        if quote is None:
            raise QuoteNotFound(f"no quote with id {quote_id}")
        return quote


def _accepted(quote: Quote, now_ms: int) -> Quote:
    return replace(quote, state=QuoteState.ACCEPTED, accepted_at_ms=now_ms)


def _memo(quote: Quote) -> str:
    verb = "buys" if quote.direction is Direction.BUY else "sells"
    return (
        f"quote {quote.quote_id}: the user {verb} {quote.amount_cents} cents "
        f"for {quote.amount_sats} sats"
    )

"""Chain ingestion: Raindex fills read from the orderbook's logs, by polling, in bounded block
ranges, from the deployment block (or the checkpoint + 1) up to the cutoff.

For each range: the kept block hashes are checked again first (a replaced block reverts the
fills from it on, and a hedged fill reverted raises an alert: a correcting hedge follows), the
range is read, each event classified by the domain (`raindex.classify`: a fill, or a log
skipped with its reason), and the fills, the skipped logs, the hashes near the range's end and
the checkpoint are recorded in one call. A range that could not be read completely is read
again after a backoff; the checkpoint never moves past it. One odd log never stops ingestion.

Liveness is measured as progress: the checkpoint's lag behind the cutoff (blocks and seconds),
the last successful poll, failures in a row, and an alert when the checkpoint stops advancing
while there is something to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from pegkeeper.domain.collateral import AlertKind, Severity
from pegkeeper.domain.equities.assets import EquityUniverse
from pegkeeper.domain.equities.chain import (
    BlockRef,
    OnchainFill,
    RangeRead,
    SkippedLog,
    SkipReason,
    TokenInfo,
)
from pegkeeper.domain.equities.ledger import RevertedFill
from pegkeeper.domain.errors import ChainCallReverted, ChainError, ChainIncomplete, InvalidInput
from pegkeeper.ports import ChainSource, Clock, EquityRepository
from pegkeeper.services.alerts import Alerter
from pegkeeper.services.equities.classifying import Classifier, token_keys
from pegkeeper.services.trigger_loop import backoff_delay_seconds

log = structlog.get_logger("pegkeeper.equities.ingestion")

T = TypeVar("T")
Listener = Callable[[str], None]  # told "fill" or "revert" when the books changed


@dataclass(frozen=True, slots=True)
class IngestionSettings:
    deployment_block: int = 0
    poll_interval_seconds: float = 5.0
    range_blocks: int = 1_000
    keep_block_hashes: int = 128  # at least the cutoff's depth: reorgs are seen within it
    backoff_cap_seconds: float = 300.0
    checkpoint_stall_alert_seconds: float = 300.0
    request_timeout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class IngestionFigures:
    """What the API and the metrics read of ingestion's progress."""

    checkpoint_block: int | None
    cutoff_block: int | None
    lag_blocks: int | None  # cutoff - checkpoint
    lag_seconds: int | None  # the cutoff block's time - the checkpoint block's time
    last_success_ms: int | None  # when a poll last read up to the cutoff
    consecutive_failures: int
    last_error: str
    stalled_seconds: float  # how long the checkpoint has not moved while behind
    stalled: bool  # stalled past the alert limit
    polls: int
    fills_ingested: int  # since start
    fills_reverted: int  # since start
    reorgs: int  # since start
    skipped_by_reason: dict[str, int] = field(default_factory=dict)  # since start


class ChainIngestion:
    def __init__(
        self,
        chain: ChainSource,
        repository: EquityRepository,
        universe: EquityUniverse,
        clock: Clock,
        settings: IngestionSettings,
        *,
        alerter: Alerter | None = None,
        listeners: Sequence[Listener] = (),
    ) -> None:
        """`listeners` (the hedger's and the P&L's triggers) are told of new and reverted
        fills."""
        if settings.range_blocks < 1 or settings.keep_block_hashes < 1:
            raise InvalidInput("range_blocks and keep_block_hashes must be at least 1")
        self._chain = chain
        self._repository = repository
        self._universe = universe
        self._clock = clock
        self.settings = settings
        self._alerter = alerter
        self._listeners = list(listeners)
        self._classifier = Classifier(chain, universe, self._call)
        self._checkpoint: BlockRef | None = None
        self._cutoff: BlockRef | None = None
        self._progress_ms = clock.monotonic_ms()
        self._last_success_ms: int | None = None
        self._failures = 0
        self._last_error = ""
        self._polls = 0
        self._fills = 0
        self._reverted = 0
        self._reorgs = 0
        self._skipped: dict[str, int] = {}
        self._alerted_skips: set[tuple[str, str]] = set()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Waits for the node to answer, then checks that every configured token is a
        contract (and every wrapper an ERC-4626 vault); refuses, naming the key, otherwise."""
        while True:
            try:
                cutoff = await self._call(self._chain.cutoff())
                break
            except (ChainError, TimeoutError, OSError) as error:
                await self._failed(error)
        self._cutoff = cutoff
        self._checkpoint = await self._repository.checkpoint()
        for address, key in token_keys(self._universe).items():
            while True:
                try:
                    await self._check_token(address, key, cutoff)
                    break
                except (ChainError, TimeoutError, OSError) as error:  # the node, not the token
                    await self._failed(error)

    async def _check_token(self, address: str, key: str, cutoff: BlockRef) -> None:
        try:
            self._classifier.remember(await self._call(self._chain.token(address)))
            role = self._universe.role(address)
            if role is not None and role.wrapped:
                await self._call(self._chain.shares_per_token(address, cutoff.number))
        except ChainCallReverted as error:
            raise InvalidInput(
                f"{key}: {address} is not a token contract the node can read ({error}); "
                "expected the address of the asset's ERC-20 token (an ERC-4626 vault for "
                "wrapped_tokens)"
            ) from None

    async def run(self) -> None:
        await self.start()
        while True:
            delay = self.settings.poll_interval_seconds
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the loop never ends: the next poll tries again
                delay = await self._failed(error, sleep=False)
            self._check_stall()
            await self._clock.sleep(delay)

    async def poll_once(self) -> list[OnchainFill]:
        """Reads every range up to the node's cutoff now; returns the new fills. Raises
        (ChainError, TimeoutError, ...) at the first range not read completely, after
        recording those before it."""
        self._polls += 1
        cutoff = await self._call(self._chain.cutoff())
        self._cutoff = cutoff
        new: list[OnchainFill] = []
        while True:
            await self._check_reorg(cutoff)
            checkpoint = await self._repository.checkpoint()
            self._checkpoint = checkpoint
            start = checkpoint.number + 1 if checkpoint else self.settings.deployment_block
            if start > cutoff.number:
                break
            end = min(start + self.settings.range_blocks - 1, cutoff.number)
            new.extend(await self._ingest(start, end, cutoff))
            if end == cutoff.number:
                break  # the next poll checks these blocks' hashes
        self._progress_ms = self._clock.monotonic_ms()  # caught up with the cutoff
        self._failures = 0
        self._last_error = ""
        self._last_success_ms = self._clock.now_ms()
        self._check_stall()
        return new

    async def _ingest(self, start: int, end: int, cutoff: BlockRef) -> list[OnchainFill]:
        keep_from = max(end - self.settings.keep_block_hashes + 1, 0)
        read = await self._call(self._chain.read_range(start, end, keep_from_block=keep_from))
        if (read.from_block, read.to_block) != (start, end):
            raise ChainIncomplete(
                f"asked blocks {start}-{end}, the node answered {read.from_block}-{read.to_block}"
            )
        fills, skipped = await self._classifier.classify(read)
        read_to = await self._end_of(read, cutoff)
        hashes = {n: h for n, h in read.block_hashes.items() if start <= n <= end}
        hashes[read_to.number] = read_to.hash
        new = await self._repository.record_range(
            read_to, fills, skipped, hashes, keep_from_block=keep_from
        )
        self._checkpoint = read_to
        self._progress_ms = self._clock.monotonic_ms()
        self._count_skipped(skipped)
        if new:
            self._fills += len(new)
            log.info("onchain fills", blocks=f"{start}-{end}", new=len(new))
            self._tell("fill")
        return new

    async def _end_of(self, read: RangeRead, cutoff: BlockRef) -> BlockRef:
        """The range's last block, with its hash (the checkpoint's)."""
        end = read.to_block
        block_hash = read.block_hashes.get(end, "")
        timestamp_s = read.to_block_timestamp_s
        if end == cutoff.number:
            block_hash = block_hash or cutoff.hash
            timestamp_s = timestamp_s or cutoff.timestamp_s
        if not block_hash:
            block_hash = (await self._call(self._chain.block_hashes([end]))).get(end, "")
        if not block_hash:
            raise ChainIncomplete(f"the node gave no hash for block {end}")
        return BlockRef(end, block_hash, timestamp_s)

    async def _check_reorg(self, cutoff: BlockRef) -> list[RevertedFill]:
        """Compares the kept hashes with the node's; reverts from the lowest replaced block."""
        kept = await self._repository.kept_block_hashes()
        if not kept:
            return []
        top = max(kept)
        if (await self._call(self._chain.block_hashes([top]))).get(top) == kept[top]:
            return []  # a block's hash covers its parent's: every kept block below is the same
        now = await self._call(self._chain.block_hashes(sorted(kept)))
        missing = [n for n in kept if n not in now and n <= cutoff.number]
        replaced = sorted(n for n, h in kept.items() if n in now and now[n] != h)
        if not replaced:
            if missing:  # the node's cutoff covers a block it does not have: it lags
                raise ChainIncomplete(f"the node has no block {min(missing)} below its cutoff")
            return []
        lowest = replaced[0]
        self._reorgs += 1
        deeper = lowest == min(kept)
        log.warning("chain reorganised", from_block=lowest, deeper_than_kept=deeper)
        reverted = await self._repository.revert_from(lowest, self._clock.now_ms())
        self._checkpoint = await self._repository.checkpoint()
        self._reverted += len(reverted)
        self._alert_reverted(lowest, reverted, deeper)
        if reverted:
            self._tell("revert")
        return reverted

    def _alert_reverted(self, block: int, reverted: list[RevertedFill], deeper: bool) -> None:
        for fill in reverted:
            if fill.covered_shares == 0:
                log.warning("an unhedged fill was reverted; its exposure is undone", fill=fill)
                continue
            log.error("a hedged fill was reverted; a correcting hedge follows", fill=fill)
            if self._alerter is not None:
                self._alerter.event(
                    AlertKind.EQUITY_FILL_REVERTED,
                    f"{fill.symbol}: a hedged fill was reverted; a correcting hedge follows",
                    f"a reorg from block {block} reverted fill {fill.fill_id} "
                    f"({fill.signed_shares} shares, {fill.covered_shares} of them hedged)",
                    {"fill_id": fill.fill_id, "symbol": fill.symbol, "block": str(block)},
                )
        if deeper and self._alerter is not None:
            self._alerter.event(
                AlertKind.EQUITY_FILL_REVERTED,
                "reorg at the oldest kept block",
                f"block {block}, the oldest whose hash was kept, was replaced: the reorg may "
                "reach deeper; raise keep_block_hashes or use a safer cutoff",
                {"block": str(block)},
            )

    def _count_skipped(self, skipped: Sequence[SkippedLog]) -> None:
        for log_ in skipped:
            reason = log_.reason.value
            self._skipped[reason] = self._skipped.get(reason, 0) + 1
            if log_.reason is SkipReason.NOT_OUR_ORDER:
                continue  # other makers' trades on the same orderbook: expected
            subject = _token_in(log_.detail) if log_.reason is not SkipReason.UNDECODABLE else ""
            key = (reason, subject)
            if key in self._alerted_skips:
                continue
            self._alerted_skips.add(key)
            log.warning("orderbook log skipped", reason=reason, detail=log_.detail)
            if self._alerter is not None:
                self._alerter.event(
                    AlertKind.EQUITY_LOG_SKIPPED,
                    f"orderbook log skipped: {reason}",
                    f"{log_.ref.fill_id} at block {log_.ref.block_number}: {log_.detail} "
                    "(recorded; later ones like it are counted, not alerted)",
                    {"reason": reason, "subject": subject, "fill_id": log_.ref.fill_id},
                    severity=Severity.WARNING,
                )

    async def _failed(self, error: BaseException, *, sleep: bool = True) -> float:
        self._failures += 1
        self._last_error = f"{type(error).__name__}: {error}"
        delay = backoff_delay_seconds(
            self.settings.poll_interval_seconds, self.settings.backoff_cap_seconds, self._failures
        )
        if isinstance(error, ChainError | TimeoutError | OSError):
            log.warning("chain read failed; retrying", error=self._last_error, retry_in_s=delay)
        else:
            log.exception("ingestion failed; retrying", retry_in_s=delay, exc_info=error)
        if sleep:
            self._check_stall()
            await self._clock.sleep(delay)
        return delay

    def _stalled_seconds(self) -> float:
        behind = self._failures > 0 or (
            self._cutoff is not None
            and (self._checkpoint is None or self._checkpoint.number < self._cutoff.number)
        )
        if not behind:
            return 0.0
        return max(self._clock.monotonic_ms() - self._progress_ms, 0) / 1000

    def _check_stall(self) -> None:
        if self._alerter is None:
            return
        stalled_s = self._stalled_seconds()
        if stalled_s >= self.settings.checkpoint_stall_alert_seconds:
            figures = self.figures()
            self._alerter.condition(
                AlertKind.EQUITY_INGESTION_STALLED,
                "chain",
                f"chain ingestion has not advanced for {stalled_s:.0f} s",
                f"checkpoint {figures.checkpoint_block}, cutoff {figures.cutoff_block}, "
                f"{figures.consecutive_failures} failures in a row: {figures.last_error}",
                severity=Severity.CRITICAL,
            )
        elif stalled_s == 0:
            self._alerter.cleared(
                AlertKind.EQUITY_INGESTION_STALLED, "chain", "chain ingestion advances again", ""
            )

    @property
    def cutoff(self) -> BlockRef | None:
        """The newest block ingestion could read at its last poll (None before the first)."""
        return self._cutoff

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def last_error(self) -> str:
        """The last poll's error in words, "" after a complete poll."""
        return self._last_error

    def figures(self) -> IngestionFigures:
        checkpoint, cutoff = self._checkpoint, self._cutoff
        lag_blocks = lag_seconds = None
        if cutoff is not None:
            done = checkpoint.number if checkpoint else self.settings.deployment_block - 1
            lag_blocks = max(cutoff.number - done, 0)
            if checkpoint is not None and checkpoint.timestamp_s and cutoff.timestamp_s:
                lag_seconds = max(cutoff.timestamp_s - checkpoint.timestamp_s, 0)
        stalled_s = self._stalled_seconds()
        return IngestionFigures(
            checkpoint_block=checkpoint.number if checkpoint else None,
            cutoff_block=cutoff.number if cutoff else None,
            lag_blocks=lag_blocks,
            lag_seconds=lag_seconds,
            last_success_ms=self._last_success_ms,
            consecutive_failures=self._failures,
            last_error=self._last_error,
            stalled_seconds=stalled_s,
            stalled=stalled_s >= self.settings.checkpoint_stall_alert_seconds,
            polls=self._polls,
            fills_ingested=self._fills,
            fills_reverted=self._reverted,
            reorgs=self._reorgs,
            skipped_by_reason=dict(self._skipped),
        )

    def token_info(self) -> dict[str, TokenInfo]:
        """The tokens read so far, by address."""
        return self._classifier.tokens()

    def _tell(self, reason: str) -> None:
        for listener in self._listeners:
            listener(reason)

    async def _call(self, request: Awaitable[T]) -> T:
        # asyncio.timeout, not wait_for: wait_for (before 3.12) turns a cancel that meets a
        # failing read into that failure, and the retry loop would outlive Ctrl-C
        async with asyncio.timeout(self.settings.request_timeout_seconds):
            return await request


def _token_in(detail: str) -> str:
    """The first address a skip's detail names (the token it is about), else ""."""
    for word in detail.replace(",", " ").replace(":", " ").split():
        if word.startswith("0x") and len(word) == 42:
            return word.lower()
    return ""

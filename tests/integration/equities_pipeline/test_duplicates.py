"""The same fill delivered twice is one fill: a node that repeats every log entry of its pages,
and a range read twice, by a standby whose read was held while the active process recorded the
same range (and, later, a range the active one had already passed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest

from pegkeeper.adapters.chain.raindex import RaindexChain
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.domain.equities.chain import BlockRef, RangeRead, TokenInfo
from pegkeeper.domain.errors import ConflictError
from pegkeeper.domain.orders import OrderSide
from pegkeeper.services.equities.ingestion import ChainIngestion
from tests.chain_rpc_proxy import RpcProxy
from tests.integration.equities_pipeline.market import Market, Via, fill_id
from tests.integration.equities_pipeline.pipeline import running_pipeline

D = Decimal
BUY = OrderSide.BUY


async def test_log_entries_repeated_by_the_node_are_one_fill_each(
    world: RaindexWorld, proxy: RpcProxy, database_url: str
) -> None:
    market = await Market.open(world, ("AAPL",))
    sent = [
        await market.sell("AAPL", "1", "200"),
        await market.sell("AAPL", "0.5", "101", via=Via.CLEAR_V5),
        await market.buy("AAPL", "0.25", "49.5", via=Via.TAKE_V4),
        await market.sell("AAPL", "0.75", "150", via=Via.CLEAR_V4),
    ]
    async with running_pipeline(database_url, market, rpc_url=proxy.url) as pipeline:
        proxy.misbehave.repeat_logs = True  # every entry of every eth_getLogs page twice

        new, _ = await pipeline.step()

        assert "eth_getLogs" in proxy.calls
        assert [f.fill_id for f in new] == [fill_id(s) for s in sent]
        assert [f.fill_id for f in await pipeline.stored_fills()] == [fill_id(s) for s in sent]
        # -1 - 0.5 + 0.25 - 0.75
        assert pipeline.orders() == [("AAPL", BUY, D(2))]
        assert await pipeline.exposures() == {"AAPL": D(0)}
        await pipeline.assert_whole()


class HeldReads:
    """The chain adapter, with each range read held after the node answered until released:
    a standby process whose read overlaps the active one's."""

    def __init__(self, chain: RaindexChain) -> None:
        self._chain = chain
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def cutoff(self) -> BlockRef:
        return await self._chain.cutoff()

    async def read_range(
        self, from_block: int, to_block: int, *, keep_from_block: int | None = None
    ) -> RangeRead:
        answered = await self._chain.read_range(
            from_block, to_block, keep_from_block=keep_from_block
        )
        self.read.set()
        await self.release.wait()
        return answered

    async def block_hashes(self, numbers: Sequence[int]) -> dict[int, str]:
        return await self._chain.block_hashes(numbers)

    async def token(self, address: str) -> TokenInfo:
        return await self._chain.token(address)

    async def shares_per_token(self, wrapper: str, block_number: int) -> Decimal:
        return await self._chain.shares_per_token(wrapper, block_number)

    def hold_again(self) -> None:
        self.read.clear()
        self.release.clear()


async def test_a_range_read_twice_is_recorded_once(world: RaindexWorld, database_url: str) -> None:
    market = await Market.open(world, ("AAPL", "MSFT"))
    sent = [await market.sell("AAPL", "1.5", "300"), await market.buy("MSFT", "1", "400")]
    async with running_pipeline(database_url, market) as active:
        held = HeldReads(active.chain)
        standby = ChainIngestion(
            held, active.repo, market.universe(), active.clock, active.ingestion.settings
        )
        # the standby reads the range and is held; the active process records it meanwhile
        standby_poll = asyncio.create_task(standby.poll_once())
        await held.read.wait()
        assert [f.fill_id for f in await active.ingest()] == [fill_id(s) for s in sent]
        held.release.set()

        assert await standby_poll == []  # recorded again: no fill is new

        assert [f.fill_id for f in await active.stored_fills()] == [fill_id(s) for s in sent]
        assert await active.exposures() == {"AAPL": D("-1.5"), "MSFT": D(1)}

        # the standby reads a range again, the active process goes past it meanwhile
        more = await market.sell("AAPL", "0.5", "100")
        held.hold_again()
        standby_poll = asyncio.create_task(standby.poll_once())
        await held.read.wait()
        later = await market.sell("MSFT", "0.25", "100")
        assert [f.fill_id for f in await active.ingest()] == [fill_id(more), fill_id(later)]
        held.release.set()

        with pytest.raises(ConflictError, match=r"past the range read to .*nothing recorded"):
            await standby_poll

        await active.hedge()
        assert active.orders() == [("AAPL", BUY, D(2)), ("MSFT", OrderSide.SELL, D("0.75"))]
        assert await active.exposures() == {"AAPL": D(0), "MSFT": D(0)}
        await active.assert_whole()

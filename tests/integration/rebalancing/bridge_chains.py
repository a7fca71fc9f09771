"""A desk whose broker wallet is on another chain than the orderbook (harness.py, with a
bridge): two anvils, the CCTP v2 stand-in (a message transmitter and a token messenger) on
each, USDC on each linked to the other's, and the local attestation service of each source
chain. The sim broker's wallet sends and takes USDC on the wallet's chain; the rebalancer's
bridge steps are wired by bootstrap's own functions, with the maker's key on both chains.

CCTP domains as Circle numbers them: the wallet's chain is Ethereum (0), the orderbook's Base
(6). A burn's message is attested once its block is mined (one confirmation), unless the
service of its source chain withholds it (`attesters[domain].faults.withhold`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_typing import HexStr
from pydantic import SecretStr
from web3 import Web3
from web3.contract import AsyncContract

from pegkeeper.adapters.chain.iris import IrisClient
from pegkeeper.adapters.chain.rpc import Rpc
from pegkeeper.adapters.chain.signer import ChainSigner
from pegkeeper.adapters.chain.stand_in import RaindexWorld
from pegkeeper.adapters.chain.vault_calls import ChainReads, MoveCallBuilder, address_word
from pegkeeper.adapters.store.database import SqlStore
from pegkeeper.bootstrap.rebalancing import (
    bridge_steps,
    give_home_allowance,
    orderbook_chain_side,
    wallet_chain_side,
)
from pegkeeper.config.rebalancing import BridgeSettings
from pegkeeper.domain.equities.inventory import CASH_ASSET
from pegkeeper.domain.equities.move_records import IntentStatus, MoveRecord
from pegkeeper.domain.equities.moves import MoveStep
from pegkeeper.domain.equities.transfers import BridgeMessage
from pegkeeper.ports import Clock
from pegkeeper.ports.rebalancing import RebalanceRepository
from pegkeeper.services.equities.rebalance_bridge import BridgeSteps
from pegkeeper.services.equities.rebalance_tx import TxSettings, TxSteps
from pegkeeper.sim.bridge.attestation_server import AttestationServer
from pegkeeper.sim.brokers.alpaca_web3_chain import Web3Chain
from tests.anvil_chain import rpc
from tests.integration.rebalancing.crash_points import Crash, Tapper, move_of
from tests.integration.rebalancing.harness import (
    ETHER_WEI,
    SETTINGS,
    SHORT_ONCHAIN,
    Desk,
    Holdings,
    Tap,
    new_maker,
    open_desk,
)

WALLET_DOMAIN, ORDERBOOK_DOMAIN = 0, 6  # Ethereum, Base
BRIDGED = replace(SETTINGS, bridged=True)
Closer = Callable[[], Any]


@dataclass(frozen=True)
class Cctp:
    """One chain's bridge contracts."""

    world: RaindexWorld
    domain: int
    transmitter: AsyncContract
    messenger: AsyncContract

    async def burns(self) -> list[int]:
        """The amounts (USDC units) of every burn on this chain, in chain order."""
        logs = await self.messenger.events.DepositForBurn.get_logs(from_block=0)
        return [int(log["args"]["amount"]) for log in logs]

    async def mints(self) -> list[int]:
        """The amounts minted on this chain by received messages, in chain order."""
        logs = await self.messenger.events.MintAndWithdraw.get_logs(from_block=0)
        return [int(log["args"]["amount"]) for log in logs]


@dataclass
class BridgeChains:
    orderbook: Cctp
    wallet: Cctp
    wallet_usdc: AsyncContract  # USDC on the wallet's chain
    attesters: dict[int, AttestationServer]  # by source domain
    settings: BridgeSettings
    closers: list[Closer] = field(default_factory=list)

    async def wallet_balance(self, holder: str) -> int:
        """USDC units `holder` has on the wallet's chain."""
        owner = Web3.to_checksum_address(holder)
        return int(await self.wallet_usdc.functions.balanceOf(owner).call())

    def wallet_effects(self) -> Web3Chain:
        """The sim broker's wallet on its chain: USDC minted out of it, deposits read there
        (closed with the bridge)."""
        world = self.wallet.world
        effects = Web3Chain(
            world.url, tokens={}, usdc=self.wallet_usdc.address, minter=world.account
        )
        self.closers.append(effects.close)
        return effects

    async def steps(
        self,
        key: SecretStr,
        repository: RebalanceRepository,
        orderbook: tuple[ChainSigner, TxSteps, ChainReads, str],
        clock: Clock,
        tap: Tap,
    ) -> tuple[BridgeSteps, list[Closer]]:
        """The bridge's steps of one rebalancer process, wired as bootstrap wires them, the
        wallet chain's allowance given; `orderbook`: that chain's signer, transaction steps,
        reads and USDC, the process's own."""
        node = Rpc(self.wallet.world.url, timeout_s=5.0)
        signer = tap("wallet_signer", ChainSigner(node, key))
        reads = ChainReads(node, self.wallet.world.orderbook.address)
        home = wallet_chain_side(signer, reads, self.settings, repository, clock, TxSettings())
        ob_side = orderbook_chain_side(*orderbook, self.settings)
        attestations = EachDomain(
            {domain: IrisClient(s.url, timeout_s=5.0) for domain, s in self.attesters.items()}
        )
        steps = bridge_steps(home, ob_side, self.settings, MoveCallBuilder(), attestations)
        await give_home_allowance(steps)
        return steps, [attestations.close, node.close]

    async def link(self, orderbook_usdc: str) -> None:
        """Each chain's messenger mints its USDC for a burn of the other's."""
        pairs = (
            (self.orderbook, orderbook_usdc, WALLET_DOMAIN, self.wallet_usdc.address),
            (self.wallet, self.wallet_usdc.address, ORDERBOOK_DOMAIN, orderbook_usdc),
        )
        for cctp, local, remote_domain, remote in pairs:
            link = cctp.messenger.functions.linkTokenPair(
                Web3.to_checksum_address(local), remote_domain, address_word(remote)
            )
            await cctp.world.send(link)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


class EachDomain:
    """The attestation service of each source chain, asked as one (Iris answers for every
    domain at one address; the local service serves one source chain)."""

    def __init__(self, clients: dict[int, IrisClient]) -> None:
        self._clients = clients

    async def messages(self, source_domain: int, tx_hash: str) -> tuple[BridgeMessage, ...]:
        return await self._clients[source_domain].messages(source_domain, tx_hash)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()


async def open_bridge(orderbook_world: RaindexWorld, wallet_world: RaindexWorld) -> BridgeChains:
    """The bridge's contracts on both chains, joined, and an attestation service for each;
    USDC of the wallet's chain deployed (`link` it to the orderbook's once that exists)."""
    attester = Account.create()
    orderbook = await _cctp(orderbook_world, ORDERBOOK_DOMAIN, attester.address)
    wallet = await _cctp(wallet_world, WALLET_DOMAIN, attester.address)
    for here, there in ((orderbook, wallet), (wallet, orderbook)):
        remote = address_word(there.messenger.address)
        await here.world.send(
            here.messenger.functions.addRemoteTokenMessenger(there.domain, remote)
        )
    wallet_usdc = await wallet_world.token("USDC", 6)
    key = "0x" + bytes(attester.key).hex()
    attesters = {
        cctp.domain: AttestationServer(
            cctp.world.url, cctp.domain, cctp.transmitter.address.lower(), key
        )
        for cctp in (orderbook, wallet)
    }
    settings = BridgeSettings(
        enabled=True,
        wallet_rpc_url=SecretStr(wallet_world.url),
        wallet_usdc=wallet_usdc.address,
        wallet_domain=WALLET_DOMAIN,
        orderbook_domain=ORDERBOOK_DOMAIN,
        wallet_token_messenger=wallet.messenger.address,
        wallet_message_transmitter=wallet.transmitter.address,
        orderbook_token_messenger=orderbook.messenger.address,
        orderbook_message_transmitter=orderbook.transmitter.address,
        attestation_url=attesters[WALLET_DOMAIN].url,
    )
    bridge = BridgeChains(orderbook, wallet, wallet_usdc, attesters, settings)
    for server in attesters.values():
        await server.start()
        bridge.closers.append(server.stop)
    return bridge


async def open_bridged_desk(
    orderbook_world: RaindexWorld,
    wallet_world: RaindexWorld,
    store: SqlStore,
    holdings: Holdings = SHORT_ONCHAIN,
    *,
    fee_units: int = 0,
    **options: Any,
) -> Desk:
    """A desk (harness.open_desk, `options` as it takes them) whose cash moves cross the
    bridge: a new maker holding `holdings`, with ether on both chains; `fee_units`: the fee
    a burn allows (its maxFee) and the attestation services charge (a fast transfer's)."""
    bridge = await open_bridge(orderbook_world, wallet_world)
    bridge.settings = bridge.settings.model_copy(update={"max_fee_units": fee_units})
    for server in bridge.attesters.values():
        server.fee_units = fee_units
    try:
        messenger = bridge.orderbook.messenger.address.lower()
        maker = await new_maker(orderbook_world, holdings, token_messenger=messenger)
        rpc(wallet_world.url, "anvil_setBalance", [maker.address, hex(10 * ETHER_WEI)])
        await bridge.link(maker.usdc.address)
        options.setdefault("settings", BRIDGED)
        desk = await open_desk(orderbook_world, store, maker=maker, bridge=bridge, **options)
    except BaseException:
        await bridge.close()
        raise
    desk.closers.insert(0, bridge.close)
    return desk


async def _cctp(world: RaindexWorld, domain: int, attester: str) -> Cctp:
    transmitter = await world.deploy("TestMessageTransmitter", domain, attester)
    messenger = await world.deploy("TestTokenMessenger", transmitter.address)
    return Cctp(world, domain, transmitter, messenger)


async def sender_of(world: RaindexWorld, move: MoveRecord, step: MoveStep) -> str:
    """Who sent the step's transaction, read from that chain's node."""
    intent = move.intent(step)
    assert intent is not None
    tx = await world.w3.eth.get_transaction(HexStr(intent.tx_hash))
    return str(tx["from"]).lower()


async def nonce_of(world: RaindexWorld, address: str) -> int:
    """The address's mined transaction count on that chain."""
    return int(await world.w3.eth.get_transaction_count(Web3.to_checksum_address(address)))


def on_both_chains(tapper: Tapper) -> Tap:
    """The tapper's taps, the wallet chain's signer watched as the orderbook's is."""

    def tap(role: str, real: Any) -> Any:
        return tapper.tap("signer" if role == "wallet_signer" else role, real)

    return tap


async def until_crash(desk: Desk, tapper: Tapper) -> None:
    """Cycles until the tapper's crash point is passed (the process dies there)."""
    for _ in range(60):
        try:
            await desk.rebalancer.cycle()
        except Crash:
            return
    raise AssertionError(f"the move never passed {tapper.crash_at}")


async def at_step(desk: Desk, proposal_id: str, step: MoveStep) -> bool:
    move = await move_of(desk, proposal_id)
    return move is not None and move.step is step


async def step_sent(desk: Desk, proposal_id: str, step: MoveStep) -> bool:
    """Whether the step's request or transaction is recorded as sent."""
    move = await move_of(desk, proposal_id)
    intent = move.intent(step) if move is not None else None
    return intent is not None and intent.status is IntentStatus.SENT


def cash_held(desk: Desk) -> tuple[Decimal, Decimal, Decimal]:
    """Cash onchain, at the broker and in flight, as the rebalancer last read it."""
    view = desk.rebalancer.last_view
    assert view is not None
    cash = view[CASH_ASSET]
    return cash.onchain, cash.broker, cash.in_flight_to_chain + cash.in_flight_to_broker

"""The OKX simulator serving the operator's wallet as a Bitcoin Core node (/bitcoind): the
bitcoind adapter pays the exchange's deposit address and the exchange shows the deposit; an
exchange withdrawal to the wallet's address reaches the wallet."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import orjson

from pegkeeper.adapters.wallet.bitcoind import BitcoindSettings, BitcoindWallet
from pegkeeper.bootstrap.sim_exchange import SimBitcoindSettings
from tests.bitcoind_server import PASSWORD, USER, running_bitcoind
from tests.okx_sim import running_sim, signed
from tests.waiting import until

NODE = SimBitcoindSettings(balance_btc=Decimal(10), block_interval_ms=200)


async def test_a_payment_to_the_deposit_address_is_a_deposit_and_a_withdrawal_comes_back() -> None:
    async with (
        running_sim(bitcoind=NODE, deposit_confirmation_ms=400, withdrawal_ms=400) as sim,
        aiohttp.ClientSession() as session,
    ):
        url = sim.exchange.server.bitcoind_url
        assert url == sim.rest_url + "/bitcoind"
        wallet = BitcoindWallet(BitcoindSettings(url, NODE.wallet, NODE.user, NODE.password))
        try:
            address = sim.engine.wallet.address("BTC")
            tx_id = await wallet.send(address, 50_000_417, Decimal(5), "pfdeposit1")
            # 141 vB at 5 sat/vB: 705 sats of fee on top of the payment
            assert await wallet.balance_sats() == 1_000_000_000 - 50_000_417 - 705

            async def credited() -> bool:
                _, answer = await signed(
                    session, sim, "GET", "/api/v5/asset/deposit-history?ccy=BTC"
                )
                return [(d["amt"], d["txId"], d["state"]) for d in answer["data"]] == [
                    ("0.50000417", tx_id, "2")
                ]

            await until(credited, "the deposit credited for good", 10)
            assert sim.engine.balances("BTC").funding_balance == Decimal("1.50000417")
            (found,) = await wallet.find_sent("pfdeposit1", 0)
            assert found.tx_id == tx_id and found.confirmations >= 1
            requests = await _get(session, sim.rest_url + "/sim/v1/requests")
            assert requests["wallet_sends"] == {"pfdeposit1": 1}
            seen = await _get(session, sim.rest_url + "/sim/v1/wallet")
            assert seen["balance"] == "9.49998878"
            assert [(s["txid"], s["amount"], s["fee"], s["comment"]) for s in seen["sent"]] == [
                (tx_id, "0.50000417", "0.00000705", "pfdeposit1")
            ]
            assert [d["txId"] for d in seen["deposits"]] == [tx_id]

            home = await wallet.new_address()
            body = {"ccy": "BTC", "amt": "0.2", "dest": "4", "toAddr": home, "fee": "0.0001"}
            body |= {"chain": "BTC-Bitcoin", "clientId": "pfwithdraw1"}
            status, answer = await signed(session, sim, "POST", "/api/v5/asset/withdrawal", body)
            assert status == 200 and answer["code"] == "0", answer
            # the funding account pays the amount and the exchange's fee at once
            assert sim.engine.balances("BTC").funding_balance == Decimal("1.29990417")

            async def arrived() -> bool:
                return await wallet.balance_sats() == 949_998_878 + 20_000_000

            await until(arrived, "the withdrawal in the wallet", 10)
        finally:
            await wallet.close()


async def test_without_a_wallet_the_simulator_serves_none() -> None:
    async with running_sim() as sim, httpx.AsyncClient() as client:
        assert sim.exchange.server.bitcoind_url == ""
        answer = await client.post(sim.rest_url + "/bitcoind/wallet/pegkeeper", json={})
        assert answer.status_code == 404
        assert (await client.get(sim.rest_url + "/sim/v1/wallet")).status_code == 404
        requests = (await client.get(sim.rest_url + "/sim/v1/requests")).json()
        assert requests["wallet_sends"] == {}


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_the_node_answers_bad_calls_as_bitcoind_does() -> None:
    async with running_bitcoind() as node, httpx.AsyncClient(auth=(USER, PASSWORD)) as client:

        async def call(path: str, body: object) -> tuple[int, Any]:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            answer = await client.post(node.url + path, content=data)
            return answer.status_code, orjson.loads(answer.content)

        rpc = {"jsonrpc": "1.0", "id": 7, "method": "getbalances", "params": {}}
        # the node's root answers for its (one) wallet
        status, answer = await call("/", rpc)
        assert status == 200 and answer["result"]["mine"]["trusted"] == 3
        status, answer = await call("/wallet/pegkeeper", rpc | {"method": "nosuch"})
        assert (status, answer["error"]) == (404, {"code": -32601, "message": "Method not found"})
        status, answer = await call("/wallet/pegkeeper", rpc | {"params": ["bech32"]})
        assert (status, answer["error"]["code"]) == (500, -32602)
        status, answer = await call("/wallet/pegkeeper", b"{not json")
        assert (status, answer["error"]["code"]) == (500, -32700)
        send = {"address": "bc1qx", "amount": "0.000000001", "replaceable": True}
        status, answer = await call("/", rpc | {"method": "sendtoaddress", "params": send})
        assert (status, answer["error"]["code"]) == (500, -3)  # finer than a sat
        assert node.chain.sent() == [] and node.sends == {"": 1}

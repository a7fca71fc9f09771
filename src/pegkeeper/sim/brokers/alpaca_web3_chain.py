"""`ChainEffects` on a real node (anvil with the test tokens of sim/raindex): the simulated
Alpaca mints stock tokens and USDC with the tokens' `mint(to, amount)` from an unlocked
account, and reads the Transfer logs into its addresses with eth_getLogs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from pegkeeper.sim.brokers.alpaca_chain import ChainTransfer, stock_units, usdc_units
from pegkeeper.sim.raindex.artifacts import load_artifacts

TRANSFER_TOPIC = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix(
    "0x"
)
RECEIPT_TIMEOUT_S = 10


class Web3Chain:
    def __init__(self, url: str, *, tokens: dict[str, str], usdc: str, minter: str) -> None:
        """`tokens`: the stock token's address per symbol; `minter`: an account the node
        signs for (anvil's unlocked accounts)."""
        self.w3: AsyncWeb3[Any] = AsyncWeb3(AsyncHTTPProvider(url))
        self.tokens = {symbol: address.lower() for symbol, address in tokens.items()}
        self._usdc = usdc.lower()
        self.minter = Web3.to_checksum_address(minter)
        self._abi = load_artifacts()["TestToken"].abi

    @property
    def usdc_token(self) -> str:
        return self._usdc

    def symbol_of(self, token: str) -> str | None:
        return next((s for s, t in self.tokens.items() if t == token.lower()), None)

    async def mint_tokens(self, symbol: str, wallet_address: str, qty: Decimal) -> str:
        return await self._mint(self.tokens[symbol], wallet_address, stock_units(qty))

    async def send_usdc(self, address: str, amount: Decimal) -> str:
        return await self._mint(self._usdc, address, usdc_units(amount))

    async def transfers_to(self, address: str, since_block: int) -> list[ChainTransfer]:
        recipient = "0x" + "0" * 24 + address.lower().removeprefix("0x")
        logs = await self.w3.eth.get_logs(
            {
                "fromBlock": since_block,
                "toBlock": "latest",
                "address": [
                    Web3.to_checksum_address(t) for t in (*self.tokens.values(), self._usdc)
                ],
                "topics": [TRANSFER_TOPIC, None, recipient],
            }
        )
        return [
            ChainTransfer(
                token=str(log["address"]).lower(),
                sender="0x" + bytes(log["topics"][1])[-20:].hex(),
                amount_units=int.from_bytes(bytes(log["data"]), "big"),
                tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                block=int(log["blockNumber"]),
            )
            for log in logs
        ]

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def _mint(self, token: str, recipient: str, amount_units: int) -> str:
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=self._abi)
        call = contract.functions.mint(Web3.to_checksum_address(recipient), amount_units)
        sent = await call.transact({"from": self.minter})
        receipt = await self.w3.eth.wait_for_transaction_receipt(sent, timeout=RECEIPT_TIMEOUT_S)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        if receipt["status"] != 1:
            raise RuntimeError(f"mint transaction {tx_hash} reverted")
        return tx_hash

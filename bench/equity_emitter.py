"""The reaction benchmark's taker, in a process of its own so that its clock readings never
wait for pegkeeper's event loop: for each line of calldata read from stdin, it sends the
transaction to the orderbook (anvil's automine off: it waits in the pool), mines the block with
`evm_mine` and prints `<monotonic ns when the node answered that the block is mined> <block>`.

CLOCK_MONOTONIC is system-wide on Linux: the benchmark compares these readings with its own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

GAS = 2_000_000


class Node:
    """JSON-RPC over one kept-alive HTTP connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        self._id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        self._connection.request("POST", "/", body, {"Content-Type": "application/json"})
        reply = json.loads(self._connection.getresponse().read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("sender")
    parser.add_argument("orderbook")
    args = parser.parse_args()
    node = Node(args.url)
    node.call("evm_setAutomine", [False])
    for line in sys.stdin:
        calldata = line.strip()
        transaction = {"from": args.sender, "to": args.orderbook, "data": calldata, "gas": hex(GAS)}
        node.call("eth_sendTransaction", [transaction])
        node.call("evm_mine", [])
        mined_ns = time.monotonic_ns()
        block = int(node.call("eth_blockNumber", []), 16)
        sys.stdout.write(f"{mined_ns} {block}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

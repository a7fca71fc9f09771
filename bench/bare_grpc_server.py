"""The floor of the stack: a bare grpcio asyncio server that answers the price request the
benchmark sends with a constant, through the same generated messages."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import grpc

from pegkeeper.api.grpc.pb import PRICE_SERVICE
from pegkeeper.api.grpc.pb import price_pb2 as pb

RPC = "GetCentsFromSatsForImmediateBuy"
ANSWER = pb.GetCentsFromSatsForImmediateBuyResponse(amount_in_cents=20_255)


async def answer(request: Any, context: Any) -> Any:
    return ANSWER


async def serve(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.unary_unary_rpc_method_handler(
        answer,
        request_deserializer=pb.GetCentsFromSatsForImmediateBuyRequest.FromString,
        response_serializer=pb.GetCentsFromSatsForImmediateBuyResponse.SerializeToString,
    )
    methods = {RPC: handler}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(PRICE_SERVICE, methods),))
    server.add_registered_method_handlers(PRICE_SERVICE, methods)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))

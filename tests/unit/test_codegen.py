"""The gRPC modules are made from the .proto files when missing or out of date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pegkeeper.api.grpc import codegen


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    here = tmp_path / "grpc"
    shutil.copytree(codegen.PROTO_ROOT, here / "protos")
    monkeypatch.setattr(codegen, "HERE", here)
    monkeypatch.setattr(codegen, "PROTO_ROOT", here / "protos")
    monkeypatch.setattr(codegen, "OUT_DIR", here / "generated")
    return here


def test_made_when_missing_then_left_alone(package: Path) -> None:
    assert codegen.ensure_generated() is True
    out = package / "generated" / "services" / "price" / "v1"
    grpc_module = (out / "price_service_pb2_grpc.py").read_text()
    assert "from pegkeeper.api.grpc.generated.services.price.v1 import price_service_pb2" in (
        grpc_module
    )
    assert (out / "__init__.py").exists() and not (out / "price_service_pb2.pyi").exists()
    assert codegen.ensure_generated() is False
    assert json.loads((package / "generated" / ".stamp").read_text())["stubs"] is False


def test_made_again_when_a_proto_changes_or_stubs_are_wanted(package: Path) -> None:
    codegen.ensure_generated()
    proto = package / "protos" / "services" / "quotes" / "v1" / "quote_service.proto"
    proto.write_text(proto.read_text() + "\nmessage Extra {}\n")
    assert codegen.ensure_generated() is True
    quotes = package / "generated" / "services" / "quotes" / "v1"
    assert "_EXTRA" in (quotes / "quote_service_pb2.py").read_text()
    assert codegen.ensure_generated(stubs=True) is True
    assert (quotes / "quote_service_pb2.pyi").exists()
    assert codegen.ensure_generated(stubs=True) is False
    assert codegen.ensure_generated() is False


def test_a_broken_proto_is_an_error(package: Path) -> None:
    proto = package / "protos" / "services" / "price" / "v1" / "price_service.proto"
    proto.write_text('syntax = "proto3"; message {')
    with pytest.raises(codegen.CodegenError, match="protoc failed"):
        codegen.ensure_generated()
    assert not (package / "generated").exists()

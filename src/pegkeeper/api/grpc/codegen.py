"""Python modules from the .proto files, made with grpcio-tools into the git-ignored `generated/`.

`make install` (and `make lint`, `make test`) run `python -m pegkeeper.api.grpc.codegen`, which also
writes typing stubs when mypy-protobuf is installed. Importing `pegkeeper.api.grpc.pb` calls
`ensure_generated()`, so a fresh clone or an editable install works without that step.

A stamp file holds a digest of the .proto files and the grpcio-tools version; the modules are
made again when it is missing or differs. protoc writes imports from the proto package's root
(`from services.price.v1 import ...`); they are rewritten to live under this package.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE / "protos"
OUT_DIR = HERE / "generated"
PACKAGE = "pegkeeper.api.grpc.generated"
PROTOS = ("services/price/v1/price_service.proto", "services/quotes/v1/quote_service.proto")
_STAMP = ".stamp"
_FORMAT = 1  # bump when the layout of the generated package changes
_IMPORT = re.compile(r"^(from|import) services\.", re.MULTILINE)


class CodegenError(RuntimeError):
    pass


def ensure_generated(*, stubs: bool = False) -> bool:
    """Make the modules if missing or out of date; True when they were made now."""
    wanted = _digest()
    if _fresh(wanted, stubs):
        return False
    with _locked():
        if _fresh(wanted, stubs):  # another process made them while this one waited
            return False
        _generate(wanted, stubs)
    return True


def _digest() -> str:
    digest = hashlib.sha256(f"format {_FORMAT}\n".encode())
    digest.update(_tools_version().encode())
    for name in PROTOS:
        digest.update(name.encode())
        digest.update((PROTO_ROOT / name).read_bytes())
    return digest.hexdigest()


def _tools_version() -> str:
    try:
        return metadata.version("grpcio-tools")
    except metadata.PackageNotFoundError:
        return "missing"


def _fresh(wanted: str, stubs: bool) -> bool:
    try:
        stamp = json.loads((OUT_DIR / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp.get("digest") == wanted and (stamp.get("stubs") or not stubs))


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    OUT_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(HERE / ".codegen.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _generate(digest: str, stubs: bool) -> None:
    try:
        from grpc_tools import protoc
    except ImportError as error:
        raise CodegenError(
            "the gRPC modules need grpcio-tools to be generated: pip install grpcio-tools"
        ) from error
    plugins = _stub_plugins() if stubs else []
    if stubs and not plugins:
        raise CodegenError("typing stubs need mypy-protobuf: pip install mypy-protobuf")
    with tempfile.TemporaryDirectory(dir=HERE, prefix=".codegen-") as tmp:
        out = Path(tmp) / "generated"
        out.mkdir()
        args = [f"-I{PROTO_ROOT}", f"--python_out={out}", f"--grpc_python_out={out}"]
        for name, path in plugins:
            args += [f"--plugin=protoc-gen-{name}={path}", f"--{name}_out={out}"]
        include = Path(protoc.__file__).resolve().parent / "_proto"
        code = protoc.main(["grpc_tools.protoc", *args, f"-I{include}", *PROTOS])
        if code != 0:
            raise CodegenError(f"protoc failed with exit code {code} on {', '.join(PROTOS)}")
        _finish_package(out)
        stamp = {"digest": digest, "stubs": bool(plugins)}
        (out / _STAMP).write_text(json.dumps(stamp))
        _swap_in(out)


def _stub_plugins() -> list[tuple[str, str]]:
    found = []
    for name in ("mypy", "mypy_grpc"):
        beside = Path(sys.executable).parent / f"protoc-gen-{name}"
        path = str(beside) if beside.exists() else shutil.which(f"protoc-gen-{name}")
        if path is None:
            return []
        found.append((name, path))
    return found


def _finish_package(out: Path) -> None:
    """Package markers in every directory, and imports rewritten under PACKAGE."""
    for directory in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    for path in [*out.rglob("*.py"), *out.rglob("*.pyi")]:
        text = path.read_text()
        rewritten = _IMPORT.sub(lambda m: f"{m.group(1)} {PACKAGE}.services.", text)
        if rewritten != text:
            path.write_text(rewritten)


def _swap_in(out: Path) -> None:
    """Replace the old package by the new one; readers see the one or the other."""
    old = HERE / f".codegen-old-{os.getpid()}"
    if OUT_DIR.exists():
        OUT_DIR.rename(old)
    out.rename(OUT_DIR)
    shutil.rmtree(old, ignore_errors=True)


def main() -> None:
    made = ensure_generated(stubs="--stubs" in sys.argv[1:])
    where = OUT_DIR.relative_to(Path.cwd()) if OUT_DIR.is_relative_to(Path.cwd()) else OUT_DIR
    print(f"gRPC modules {'generated in' if made else 'up to date in'} {where}")


if __name__ == "__main__":
    main()

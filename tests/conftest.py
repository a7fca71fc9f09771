"""Settings for the whole suite."""

import os

import pytest

# gRPC's C core logs connection chatter (GOAWAY on close) at INFO; keep the output to errors.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# The cluster tests time leases of a few seconds with processes of their own: one at a time.
SERIAL_DIRECTORIES = ("cluster",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for `--dist loadgroup` (make test runs two workers): a file's tests stay on one
    worker, so that its module fixtures (a browser, a chain, a server) are built once, and the
    tests of a serial directory all run on one worker, one after another."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        parts = item.path.relative_to(item.config.rootpath).parts
        serial = len(parts) > 2 and parts[1] in SERIAL_DIRECTORIES
        group = parts[1] if serial else "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))

"""Identifiers: correlation and client order ids are random version-4 UUIDs in hex."""

from __future__ import annotations

import os
import uuid

from pegkeeper.services.ids import new_client_order_id, new_correlation_id


def test_correlation_ids_are_distinct_version_4_uuids_in_hex() -> None:
    ids = [new_correlation_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value and len(value) == 32
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert value[12] == "4" and value[16] in "89ab"  # the fixed bits, as uuid4() sets them


def test_client_order_ids_are_the_prefix_and_a_uuid_cut_to_32_alphanumerics() -> None:
    value = new_client_order_id("pk")
    assert value.startswith("pk") and len(value) == 32 and value.isalnum()
    assert value[2 + 12] == "4"


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    new_correlation_id()  # the parent holds unused random values from here on
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(write_end, new_correlation_id().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        childs = pipe.read()
    parents = [new_correlation_id() for _ in range(300)]  # past the values held at the fork
    assert len(childs) == 32 and childs not in parents

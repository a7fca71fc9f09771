"""Settings for the whole suite."""

import os

# gRPC's C core logs connection chatter (GOAWAY on close) at INFO; keep the output to errors.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

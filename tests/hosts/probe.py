"""Run inside a host: try a TCP connection to each ADDRESS:PORT given; print one JSON line.

`{"10.231.0.1:8000": "ok 10.231.0.10", "127.0.0.1:8000": "ConnectionRefusedError", ...}`:
"ok" and the address the connection left from, or the name of the error it failed with.
"""

from __future__ import annotations

import json
import socket
import sys


def attempt(target: str) -> str:
    address, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((address, int(port)), timeout=2) as connection:
            return f"ok {connection.getsockname()[0]}"
    except OSError as error:
        return type(error).__name__


if __name__ == "__main__":
    print(json.dumps({target: attempt(target) for target in sys.argv[1:]}))

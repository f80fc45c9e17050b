"""A child process of test_token_race: gets ready, waits for the go, reads /2/users/me once.

Its OAuth 2.0 tokens come from the Prefect Secret block named in FOLLOWFLOW_TOKEN_STORE_BLOCK
and are expired, so the request starts with a refresh. Arguments: the file to create when
ready, the file whose appearance means go, the account's id. Prints the id it was
answered with.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from followflow.settings import load_settings
from tasks.clients import client_for


def main() -> None:
    ready, go, user_id = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    client = client_for(load_settings(), for_writes=True, user_id=user_id)
    ready.touch()
    while not go.exists():
        time.sleep(0.001)
    print(client.me().id, flush=True)


if __name__ == "__main__":
    main()

"""A child process of test_token_race: waits for a moment, then reads /2/users/me once.

Its OAuth 2.0 tokens come from the Prefect Secret block named in FOLLOWFLOW_TOKEN_STORE_BLOCK
and are expired, so the request starts with a refresh. Prints the id it was answered with
and how early it was ready (negative: late, so it did not race).
"""

from __future__ import annotations

import sys
import time

from followflow.settings import load_settings
from tasks.clients import client_for


def main() -> None:
    start_at, user_id = float(sys.argv[1]), int(sys.argv[2])
    client = client_for(load_settings(), for_writes=True, user_id=user_id)
    early = start_at - time.time()
    time.sleep(max(0.0, early))
    print(client.me().id, f"{early:.3f}", flush=True)


if __name__ == "__main__":
    main()

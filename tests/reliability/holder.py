"""Hold one global concurrency slot until killed: `python holder.py LIMIT_NAME`.

Prints `held` once the slot is held. PREFECT_API_URL and PREFECT_HOME come from the
environment, as they would for a flow run.
"""

from __future__ import annotations

import sys
import time

from tasks.limits import ensure_limits, hold


def main(name: str) -> None:
    ensure_limits(name)
    with hold(name):
        print("held", flush=True)
        time.sleep(120)


if __name__ == "__main__":
    main(sys.argv[1])

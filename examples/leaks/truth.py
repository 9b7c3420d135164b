"""The heap a zoo app retains per request, measured without memhound's statistics:

    python -m examples.leaks.truth APP [REQUESTS] [WARMUP]

tracemalloc (1 frame) on, the app driven in a plain loop (WARMUP requests, 200 by default,
then REQUESTS, 2,000 by default), and the traced heap's growth between two full collections
divided by the request count is printed. The accuracy benchmark and the tests compare
memhound soak's figure with this one (per Python version: a thread or a frame is bigger on
3.10 than on 3.11).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc


def true_bytes_per_request(app: str, requests: int = 2000, warmup: int = 200) -> float:
    tracemalloc.start(1)
    try:
        from examples.leaks import zoo
        from memhound.load.wsgi import WsgiDriver

        driver = WsgiDriver(getattr(zoo, app))
        for _ in range(warmup):
            assert driver.drive("/").ok
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(requests):
            driver.drive("/")
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / requests
    finally:
        tracemalloc.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    print(true_bytes_per_request(args[0], *(int(a) for a in args[1:3])))

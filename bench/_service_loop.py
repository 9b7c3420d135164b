"""A service-like loop for bench/alloc_overhead.py: small JSON requests parsed, answered and
serialised, with a bounded LRU cache of responses (steady memory, lots of short-lived objects).

    python bench/_service_loop.py [REQUESTS]     # default 200000
"""

from __future__ import annotations

import json
import random
import sys
from collections import OrderedDict

ACTIONS = ("get", "list", "update", "search")


class Cache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, int, str], str] = OrderedDict()

    def get(self, key: tuple[str, int, str]) -> str | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: tuple[str, int, str], value: str) -> None:
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)


def request(i: int, rng: random.Random) -> str:
    tags = [f"t{rng.randrange(30)}" for _ in range(rng.randrange(5))]
    body = {"id": i, "user": f"user{rng.randrange(20000)}", "action": rng.choice(ACTIONS)}
    body["params"] = {"page": rng.randrange(1, 11), "q": f"term{rng.randrange(300)}", "tags": tags}
    return json.dumps(body)


def handle(raw: str, cache: Cache) -> str:
    req = json.loads(raw)
    params = req["params"]
    key = (req["action"], params["page"], params["q"])
    hit = cache.get(key)
    if hit is not None:
        return hit
    items = [
        {"rank": n, "title": f"{params['q']} #{n}", "tags": sorted(params["tags"])}
        for n in range(10)
    ]
    out = json.dumps({"request": req["id"], "user": req["user"].upper(), "items": items})
    cache.put(key, out)
    return out


def main(n: int) -> int:
    rng = random.Random(7)
    cache = Cache(5000)
    total = 0
    for i in range(n):
        total += len(handle(request(i, rng), cache))
    print(f"{n} requests, {total} bytes answered, {len(cache.items)} cached")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))

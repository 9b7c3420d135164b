"""A program holding ~5 million live objects while it goes on allocating (the case of
dd-trace-py #13307, where a sampling profiler's cost grew with the live heap): for
bench/alloc_overhead.py.

    python bench/_big_heap.py [LIVE] [ROUNDS]     # default 2500000 strs + as many ints, 40
"""

from __future__ import annotations

import sys


def main() -> None:
    live = int(sys.argv[1]) if len(sys.argv) > 1 else 2_500_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    # ~5 million objects held to the end: live str and (above 256) int objects
    held = [(n, str(n)) for n in range(1000, 1000 + live)]
    total = 0
    for r in range(rounds):
        # short-lived work beside the big heap: records made, summarised and dropped
        batch = [{"id": n, "name": f"item-{n}", "tags": [n % 7, n % 11]} for n in range(20_000)]
        total += sum(len(b["name"]) for b in batch)
        del batch
        held[r] = (r, "replaced")
    print(len(held), total)


if __name__ == "__main__":
    main()

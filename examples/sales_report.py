"""A sales report job of the kind that gets OOM-killed at night: memhound's bundled example.

It makes ~300,000 synthetic orders (each a dict with nested customer, address and invoice
lines, as an ORM query would hand them over), totals revenue by region and month and by
customer, and writes a CSV.

    python examples/sales_report.py            # loads everything, then writes: ~600 MiB peak
    python examples/sales_report.py --stream   # the fix: the same work in batches: ~25 MiB

Under ``memhound run`` the checkpoints below appear as markers on the timeline.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
from collections.abc import Iterator

try:  # checkpoints when memhound is importable; the job runs without it too
    from memhound import checkpoint
except ImportError:  # pragma: no cover

    def checkpoint(label: str, **_: object) -> None:
        return None


REGIONS = ("north", "south", "east", "west", "central", "emea", "apac", "latam")
FIRST = ("ana", "bob", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo")
LAST = ("smith", "garcia", "lee", "khan", "novak", "okafor", "rossi", "tanaka")
PRODUCTS = tuple(f"SKU-{i:05d}" for i in range(2000))
HEADER = (
    "order_no",
    "date",
    "region",
    "customer",
    "email",
    "city",
    "zip",
    "lines",
    "skus",
    "total",
)


def make_order(i: int, rng: random.Random) -> dict[str, object]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    lines = []
    for _ in range(rng.randint(1, 4)):
        qty = rng.randint(1, 9)
        price = round(rng.uniform(1.0, 500.0), 2)
        lines.append(
            {
                "sku": rng.choice(PRODUCTS),
                "qty": qty,
                "unit_price": price,
                "amount": round(qty * price, 2),
            }
        )
    return {
        "id": i,
        "order_no": f"ORD-{i:08d}",
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "region": rng.choice(REGIONS),
        "customer": {
            "name": f"{first.title()} {last.title()}",
            "email": f"{first}.{last}{i % 997}@example.com",
            "address": {"city": f"City{i % 500}", "zip": f"{10000 + i % 89999}"},
        },
        "invoice": {
            "lines": lines,
            "currency": "EUR",
            "note": "" if i % 7 else f"priority customer {first} {last}",
        },
    }


def orders(n: int, seed: int = 42) -> Iterator[dict[str, object]]:
    rng = random.Random(seed)
    for i in range(n):
        yield make_order(i, rng)


def row_of(order: dict, total: float) -> tuple[object, ...]:  # type: ignore[type-arg]
    c = order["customer"]
    lines = order["invoice"]["lines"]
    return (
        order["order_no"],
        order["date"],
        order["region"],
        c["name"],
        c["email"],
        c["address"]["city"],
        c["address"]["zip"],
        len(lines),
        "|".join(line["sku"] for line in lines),
        f"{total:.2f}",
    )


class Totals:
    def __init__(self) -> None:
        self.by_region_month: dict[tuple[str, str], list[float]] = {}
        self.by_customer: dict[str, float] = {}

    def add(self, order: dict) -> float:  # type: ignore[type-arg]
        lines = order["invoice"]["lines"]
        total = round(sum(line["amount"] for line in lines), 2)
        key = (order["region"], order["date"][:7])
        agg = self.by_region_month.setdefault(key, [0, 0, 0.0])
        agg[0] += 1
        agg[1] += sum(line["qty"] for line in lines)
        agg[2] += total
        email = order["customer"]["email"]
        self.by_customer[email] = self.by_customer.get(email, 0.0) + total
        return total

    def write(self, w: csv.writer) -> None:  # type: ignore[valid-type]
        w.writerow(())
        w.writerow(("region", "month", "orders", "units", "revenue"))
        for (region, month), (n, units, revenue) in sorted(self.by_region_month.items()):
            w.writerow((region, month, n, units, f"{revenue:.2f}"))
        w.writerow(())
        w.writerow(("customer", "revenue"))
        top = sorted(self.by_customer.items(), key=lambda kv: kv[1], reverse=True)[:100]
        for email, revenue in top:
            w.writerow((email, f"{revenue:.2f}"))


def report_in_memory(n: int, out: str) -> None:
    """Load every order, total them, build the whole CSV as one string, then write it."""
    everything = list(orders(n))
    checkpoint("orders loaded")
    totals = Totals()
    order_totals = [totals.add(o) for o in everything]
    checkpoint("totals computed")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    rows = [row_of(o, t) for o, t in zip(everything, order_totals, strict=True)]
    w.writerows(rows)
    totals.write(w)
    text = buf.getvalue()
    checkpoint("csv built")
    with open(out, "w", newline="") as fh:
        fh.write(text)
    print(
        f"orders={len(everything)} csv_bytes={len(text)} regions_months="
        f"{len(totals.by_region_month)} customers={len(totals.by_customer)} -> {out}"
    )


def report_streaming(n: int, out: str, batch: int = 5_000) -> None:
    """The same report, written as orders arrive: memory stays flat."""
    totals = Totals()
    count = 0
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        chunk: list[tuple[object, ...]] = []
        for order in orders(n):
            chunk.append(row_of(order, totals.add(order)))
            count += 1
            if len(chunk) >= batch:
                w.writerows(chunk)
                chunk.clear()
        w.writerows(chunk)
        checkpoint("orders written")
        totals.write(w)
        size = fh.tell()
    print(
        f"orders={count} csv_bytes={size} regions_months="
        f"{len(totals.by_region_month)} customers={len(totals.by_customer)} -> {out}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300_000, help="how many (default 300000)")
    parser.add_argument("--stream", action="store_true", help="process in batches (the fix)")
    parser.add_argument(
        "--out", default=os.path.join(tempfile.gettempdir(), "memhound-example-sales.csv")
    )
    args = parser.parse_args(argv)
    if args.orders < 0:
        parser.error("--orders must be 0 or more")
    (report_streaming if args.stream else report_in_memory)(args.orders, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

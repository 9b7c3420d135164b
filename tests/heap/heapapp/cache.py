"""Module-level state: what a leak usually is."""

from __future__ import annotations

from collections.abc import Callable

from heapapp.models import Leak, Order, Payload

ORDERS: list[Order] = []
HANDLERS: list[Callable[[], int]] = []
LEAKS: list[Leak] = []
SECRET = "s3cr3t-token-XYZ-do-not-leak"


def load_orders(n: int) -> None:
    ORDERS.extend(Order(i) for i in range(n))


def register() -> None:
    payload = Payload()

    def on_event() -> int:
        return len(payload.blob)

    HANDLERS.append(on_event)

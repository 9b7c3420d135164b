"""Classes with names the tests look for in snapshots."""

from __future__ import annotations


class Order:
    def __init__(self, i: int) -> None:
        self.order_id = i
        self.customer = f"customer-{i}"
        self.lines = [i, i + 1, i + 2]


class Payload:
    """Held only by a closure."""

    def __init__(self) -> None:
        self.blob = bytearray(50_000)


class Session:
    """Held only by a thread's local variable."""

    def __init__(self) -> None:
        self.token = "session-token"


class Leak:
    __slots__ = ("data", "seq")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.data = [seq] * 10


class Temp:
    def __init__(self) -> None:
        self.junk = list(range(20))

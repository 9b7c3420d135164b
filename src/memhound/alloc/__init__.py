"""Allocation tracking: engines (``engine``), grouping into a report (``group``, pure) and the
profiling of a block or a program (``profile``)."""

"""Read the live system now: process memory from procfs, the interpreter's own view."""

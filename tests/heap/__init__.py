"""Fixtures of the heap tests: a small application, a script that snapshots it, helpers."""

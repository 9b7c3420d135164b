"""Orchestration: one module per workflow (run, watch, profile, soak, tune, imports, attach).

A workflow starts and stops collectors and drivers, calls the analysis, and saves a Run. It
never renders: the CLI (or the public API) hands its result to a reporter.
"""

"""Leak verdicts from series: pure numerics (``stats``) and policy."""

"""Scorers: each adds ``<name>_score`` columns (and helper columns) to the pool; none selects."""

"""Stages, the run directory, budgets and the pipeline that ties them together."""

"""Shipped recipes (YAML config sections)."""

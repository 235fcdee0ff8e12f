"""Selectors: read columns plus a budget, return candidate rows in priority order with a reason each."""

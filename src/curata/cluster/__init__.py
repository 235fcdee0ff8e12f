"""Clustering: scorers that assign every record a cluster, for balanced and bandit selection."""

"""Deduplication: scorers that mark exact and near duplicates of earlier records (the first is kept)."""

"""Data value: what each training record is worth to a model (KNN-Shapley, Monte-Carlo Shapley, ratings)."""

"""Embedders (sentence-transformers by default, a static model2vec tier for large pools) and their cache."""

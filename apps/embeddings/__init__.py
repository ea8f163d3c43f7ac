"""Word embeddings: word2vec skip-gram with negative sampling, analogies, debiasing (task.py)."""

"""word2vec (skip-gram, negative sampling) as shared code: corpora and vocabulary (corpus.py),
the Keras model trained through `Run.fit` (model.py, train.py), word-vector files (vectors.py).
The embeddings app and the sentiment app's pretraining both train through `train.train_vectors`."""

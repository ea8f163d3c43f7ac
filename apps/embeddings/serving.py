"""The embeddings export: a SavedModel lookup (words in, vectors and a found flag out) beside
word2vec text/binary files and Embedding Projector TSVs."""

import pathlib

import numpy as np

from apps.common import export as export_lib
from apps.common.word2vec.vectors import WordVectors, save_projector, save_word2vec

NAME = "embeddings"


def export_module(wv: WordVectors):
    """A tf.Module whose `lookup` signature maps words (string (N,)) to vectors (N, D) and a
    `found` flag; unknown words get zeros."""
    import tensorflow as tf

    class VectorLookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(wv.words)), tf.range(len(wv), dtype=tf.int64)),
                default_value=-1)
            self.vectors = tf.Variable(np.asarray(wv.vectors, np.float32), trainable=False)

    module = VectorLookup()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
    def lookup(words):
        ids = module.table.lookup(words)
        found = ids >= 0
        vectors = tf.gather(module.vectors, tf.maximum(ids, 0))
        return {"vectors": tf.where(found[:, None], vectors, tf.zeros_like(vectors)), "found": found}

    module.lookup = lookup
    return module, {"serving_default": lookup}


def export(wv: WordVectors, out_dir, root="saved_models", config=None, metrics=None, source=None) -> dict:
    """word2vec text + binary, Embedding Projector TSVs, and a versioned SavedModel."""
    out_dir = pathlib.Path(out_dir)
    paths = {
        "word2vec_text": save_word2vec(wv, out_dir / "vectors.txt"),
        "word2vec_binary": save_word2vec(wv, out_dir / "vectors.bin", binary=True),
    }
    paths["projector_vectors"], paths["projector_metadata"] = save_projector(wv, out_dir / "projector")
    module, signatures = export_module(wv)
    paths["saved_model"] = export_lib.write_saved_model(
        NAME, module, signatures, root=root, config=config, labels=list(wv.words), metrics=metrics,
        extra_assets={"source.json": source} if source else None)
    return {k: str(v) for k, v in paths.items()}

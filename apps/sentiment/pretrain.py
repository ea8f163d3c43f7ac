"""Word vectors for the default model: our word2vec (apps/common/word2vec, skip-gram) pretrained on
unlabelled text only, cached by a hash of the corpus and the settings.

The corpus is chosen by `config.pretrain`, parts joined by "+":
  "plot"  the embedded Rotten Tomatoes corpus's plot summaries (movie text, no review labels);
  "train" the training and validation texts of the run's dataset, without their labels (never
          the test texts);
  "wiki"  gensim's embedded Wikipedia articles; "lee" gensim's embedded Lee news corpus.
An empty `pretrain` (or `embeddings=<file>`: the user's own vectors) means no pretraining.

The vectors are written as a word2vec text file under `<cache>/sentiment-word2vec/<key>/`
(`<cache>`: apps/common/packages.cache_root()); the key hashes every corpus line and every
setting that changes the vectors, so an identical request (the tour, the tests, a second
`train`) reads the file instead of training again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import sys
import time

from apps.common.config import plus_parts
from apps.common.packages import cache_root
from apps.common.run import Run
from apps.common.word2vec.config import Word2VecConfig
from apps.common.word2vec.corpus import sentences
from apps.common.word2vec.train import train_vectors
from apps.common.word2vec.vectors import save_word2vec
from apps.sentiment.data import rotten_tomatoes_rows

PARTS = ("plot", "train", "wiki", "lee")
VECTORS_FILE = "vectors.txt"


def parts(config) -> tuple:
    """The corpus parts of `config.pretrain` (empty: no pretraining)."""
    return plus_parts(config, "pretrain", PARTS)


def wanted(config) -> bool:
    """Pretrain word2vec for this config: a corpus is named and no user vectors are given."""
    return bool(parts(config)) and not config.embeddings


def corpus_lines(config, splits) -> list:
    """Unlabelled text, one paragraph per item (whitespace collapsed), in a fixed order."""
    lines = []
    for name in parts(config):
        if name == "plot":
            lines += [text for category, text in rotten_tomatoes_rows() if category == "plot"]
        elif name == "train":
            lines += [str(t) for t in splits.x_train] + [str(t) for t in splits.x_val]
        else:
            lines += [" ".join(tokens) for tokens in sentences(Word2VecConfig(data=name))]
    return [" ".join(line.split()) for line in lines if line.strip()]


def settings(config) -> dict:
    """Everything besides the corpus that changes the vectors."""
    return {"vector_size": config.embedding_dim, "window": config.pretrain_window,
            "min_count": config.pretrain_min_count, "epochs": config.pretrain_epochs,
            "seed": config.seed, "algorithm": "apps.embeddings skip-gram, negative sampling"}  # cache keys stay valid


def cache_key(lines, settings_: dict) -> str:
    """sha256 (first 20 hex digits) of the settings and every corpus line."""
    digest = hashlib.sha256(json.dumps(settings_, sort_keys=True).encode("utf-8"))
    for line in lines:
        digest.update(line.encode("utf-8", errors="replace"))
        digest.update(b"\n")
    return digest.hexdigest()[:20]


def cache_dir() -> pathlib.Path:
    return cache_root() / "sentiment-word2vec"


def pretrained_vectors(config, splits, log=sys.stderr) -> pathlib.Path:
    """The word2vec text file of `config`'s corpus and settings: cached, else trained now."""
    lines = corpus_lines(config, splits)
    key = cache_key(lines, settings(config))
    target = cache_dir() / key
    vectors = target / VECTORS_FILE
    if vectors.is_file():
        if log:
            print(f"word2vec: cached vectors {vectors}", file=log)
        return vectors
    work = target.with_name(f"{key}.partial-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    w2v = Word2VecConfig(data=f"text:{corpus}", vector_size=config.embedding_dim,
                         window=config.pretrain_window, min_count=config.pretrain_min_count,
                         epochs=config.pretrain_epochs, seed=config.seed)
    if log:
        print(f"word2vec: pretraining on {len(lines)} unlabelled paragraphs ({config.pretrain}), "
              f"{config.pretrain_epochs} epochs, into {target}", file=log)
    started = time.monotonic()
    run = Run.claim("word2vec", w2v, work / "runs")
    save_word2vec(train_vectors(run, w2v, verbose=0), work / VECTORS_FILE)
    (work / "settings.json").write_text(json.dumps(
        {**settings(config), "pretrain": config.pretrain, "paragraphs": len(lines),
         "seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n")
    shutil.rmtree(work / "runs", ignore_errors=True)
    corpus.unlink()
    try:
        os.replace(work, target)  # atomic: a concurrent run either sees the whole folder or none
    except OSError:  # another process finished the same key first
        shutil.rmtree(work, ignore_errors=True)
    return vectors


def with_vectors(config, splits, log=sys.stderr):
    """`config` with `embeddings` pointing at pretrained vectors when pretraining is wanted."""
    if not wanted(config):
        return config
    return dataclasses.replace(config, embeddings=str(pretrained_vectors(config, splits, log)))

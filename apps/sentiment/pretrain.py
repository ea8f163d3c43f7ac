"""Word vectors for the default model: our word2vec (apps/embeddings, skip-gram) pretrained on
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

from apps.common.errors import ConfigError

PARTS = ("plot", "train", "wiki", "lee")
VECTORS_FILE = "vectors.txt"


def parts(config) -> tuple:
    """The corpus parts of `config.pretrain` (empty: no pretraining)."""
    from apps.common.config import plus_parts

    return plus_parts(config, "pretrain", PARTS)


def check_config(config) -> None:
    parts(config)
    for key in ("pretrain_epochs", "pretrain_min_count", "pretrain_window"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key}: expected a positive integer, got {getattr(config, key)}")


def wanted(config) -> bool:
    """Pretrain word2vec for this config: a corpus is named and no user vectors are given."""
    return bool(parts(config)) and not config.embeddings


def corpus_lines(config, splits) -> list:
    """Unlabelled text, one paragraph per item (whitespace collapsed), in a fixed order."""
    lines = []
    for name in parts(config):
        if name == "plot":
            from apps.sentiment.data import rotten_tomatoes_rows

            lines += [text for category, text in rotten_tomatoes_rows() if category == "plot"]
        elif name == "train":
            lines += [str(t) for t in splits.x_train] + [str(t) for t in splits.x_val]
        else:
            from apps.embeddings import Config as EmbeddingsConfig
            from apps.embeddings.data import sentences

            lines += [" ".join(tokens) for tokens in sentences(EmbeddingsConfig(data=name))]
    return [" ".join(line.split()) for line in lines if line.strip()]


def settings(config) -> dict:
    """Everything besides the corpus that changes the vectors."""
    return {"vector_size": config.embedding_dim, "window": config.pretrain_window,
            "min_count": config.pretrain_min_count, "epochs": config.pretrain_epochs,
            "seed": config.seed, "algorithm": "apps.embeddings skip-gram, negative sampling"}


def cache_key(lines, settings_: dict) -> str:
    """sha256 (first 20 hex digits) of the settings and every corpus line."""
    digest = hashlib.sha256(json.dumps(settings_, sort_keys=True).encode("utf-8"))
    for line in lines:
        digest.update(line.encode("utf-8", errors="replace"))
        digest.update(b"\n")
    return digest.hexdigest()[:20]


def cache_dir() -> pathlib.Path:
    from apps.common.packages import cache_root

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
    from apps.common import config as config_lib
    from apps.embeddings import PRESETS
    from apps.embeddings import Config as EmbeddingsConfig
    from apps.embeddings.commands import load_run_vectors
    from apps.embeddings.commands import train as train_word2vec
    from apps.embeddings.vectors import save_word2vec

    work = target.with_name(f"{key}.partial-{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    w2v = config_lib.resolve(EmbeddingsConfig, PRESETS, sets=[
        f"data=text:{corpus}", f"vector_size={config.embedding_dim}", f"window={config.pretrain_window}",
        f"min_count={config.pretrain_min_count}", f"epochs={config.pretrain_epochs}",
        f"seed={config.seed}", f"runs_dir={work / 'runs'}"])
    if log:
        print(f"word2vec: pretraining on {len(lines)} unlabelled paragraphs ({config.pretrain}), "
              f"{config.pretrain_epochs} epochs, into {target}", file=log)
    started = time.monotonic()
    run_dir = train_word2vec(w2v, fresh=True, verbose=0)
    save_word2vec(load_run_vectors(run_dir), work / VECTORS_FILE)
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

"""The embeddings app's own verbs (neighbors, analogy, debias, plot) over a run's vectors or a
word2vec/GloVe file."""

from __future__ import annotations

import json
import pathlib

from apps.common import cli
from apps.common.run import Run
from apps.common.word2vec.train import run_vectors
from apps.common.word2vec.vectors import WordVectors, load_vectors, save_word2vec
from apps.embeddings import debias
from apps.embeddings.config import Config
from apps.embeddings.metrics import Similarity, benchmark_file
from apps.embeddings.plots import DEFAULT_PLOT_WORDS, pca_plot

NAME = "embeddings"


def resolve_vectors(args) -> WordVectors:
    """--vectors FILE (word2vec / GloVe) or --run DIR (default: the newest run)."""
    if getattr(args, "vectors", None):
        return load_vectors(args.vectors, limit=getattr(args, "limit", 0) or 0)
    return run_vectors(Run.open(NAME, Config, getattr(args, "run", None)))


def _cmd_neighbors(args):
    for word, score in Similarity(resolve_vectors(args)).most_similar([args.word], topn=args.topn):
        print(f"{word}\t{score:.4f}")


def _cmd_analogy(args):
    sim = Similarity(resolve_vectors(args))
    # a : b :: c : ?  ->  b - a + c
    for word, score in sim.most_similar([args.b, args.c], [args.a], topn=args.topn):
        print(f"{word}\t{score:.4f}")


def _cmd_debias(args):
    wv = resolve_vectors(args)
    debiased, result = debias.report(wv, benchmark_file("gensim-questions-words"), args.restrict_vocab)
    out = pathlib.Path(args.out)
    save_word2vec(debiased, out / "debiased.txt")
    (out / "debias_report.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"direct bias over {result['professions_found']} professions: "
          f"{result['direct_bias_before']:.4f} -> {result['direct_bias_after']:.4f}")
    print(f"analogy accuracy: {result['analogy_before']:.2%} -> {result['analogy_after']:.2%}")
    print(f"debiased vectors: {out / 'debiased.txt'}; report: {out / 'debias_report.json'}")


def _cmd_plot(args):
    path = pca_plot(resolve_vectors(args), args.words or DEFAULT_PLOT_WORDS, args.out)
    print(f"plot: {path}")


def _vector_arguments(parser):
    cli.add_run_argument(parser)
    parser.add_argument("--vectors", metavar="FILE",
                        help="a word2vec (text/binary, header detected) or GloVe file instead of a run")
    parser.add_argument("--limit", type=int, default=0, help="read only the first N vectors of --vectors")


def add_commands(sub) -> None:
    p = sub.add_parser("neighbors", help="nearest words by cosine")
    p.add_argument("word")
    _vector_arguments(p)
    p.add_argument("--topn", type=int, default=10)
    p.set_defaults(func=_cmd_neighbors)

    p = sub.add_parser("analogy", help="a : b :: c : ?  (3CosAdd)")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    _vector_arguments(p)
    p.add_argument("--topn", type=int, default=5)
    p.set_defaults(func=_cmd_analogy)

    p = sub.add_parser("debias", help="Bolukbasi et al. hard debiasing, with before/after numbers")
    _vector_arguments(p)
    p.add_argument("--out", default="debiased", metavar="DIR")
    p.add_argument("--restrict-vocab", type=int, default=300000, metavar="N")
    p.set_defaults(func=_cmd_debias)

    p = sub.add_parser("plot", help="2-D PCA plot PNG of chosen words")
    p.add_argument("words", nargs="*", help=f"words (default: {' '.join(DEFAULT_PLOT_WORDS[:6])} ...)")
    _vector_arguments(p)
    p.add_argument("--out", default="pca.png", metavar="PNG")
    p.set_defaults(func=_cmd_plot)

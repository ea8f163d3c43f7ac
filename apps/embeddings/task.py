"""Word embeddings on the app contract: word2vec trained through the shared loop (resumable by
epoch), analogy/similarity evaluation, the lookup export with its vector files, tour."""

import argparse
import pathlib

from apps.common.files import write_json
from apps.common.task import Task
from apps.common.word2vec.corpus import ERRORS, build_vocabulary
from apps.common.word2vec.train import STATS_FILE, run_vectors, train_vectors
from apps.embeddings import commands, debias
from apps.embeddings.config import PRESETS, Config
from apps.embeddings.metrics import evaluate, format_evaluation
from apps.embeddings.plots import DEFAULT_PLOT_WORDS, pca_plot
from apps.embeddings.serving import export


class EmbeddingsTask(Task):
    name = "embeddings"
    description = "word2vec skip-gram with negative sampling, analogies, debiasing"
    data_help = ("Corpora: wiki+lee (embedded default), wiki, lee, text:<path> (UTF-8, one sentence or "
                 "paragraph a line, .gz/.bz2 too). gensim's parameter names: --set vector_size=100 ...")
    Config, presets = Config, PRESETS
    monitor, mode, keep = "loss", "min", "last"
    tour_seconds = 5.0

    def load_data(self, config):
        # The vocabulary, counted before the run is claimed: an empty, unreadable or too small
        # corpus is one error line and leaves no run directory. The corpus itself is streamed
        # by the training loop.
        return build_vocabulary(config)

    def fit(self, run, config, data, verbose=None):
        train_vectors(run, config, verbose, vocab=data)

    def open(self, options):
        """--vectors FILE reads a word2vec/GloVe file instead of a run."""
        return None if getattr(options, "vectors", None) else super().open(options)

    def add_arguments(self, command, parser):
        if command == "train":
            # The corpus reader's error message and the README name this flag.
            parser.add_argument("--errors", choices=ERRORS, action=_SetErrors,
                                help="invalid UTF-8 in the corpus: stop (strict) or read it as U+FFFD "
                                     "(replace); the same as --set errors=...")
        if command in ("evaluate", "export"):
            parser.add_argument("--vectors", metavar="FILE",
                                help="a word2vec (text/binary, header detected) or GloVe file instead of a run")
            parser.add_argument("--limit", type=int, default=0, help="read only the first N vectors of --vectors")
        if command == "evaluate":
            parser.add_argument("--restrict-vocab", type=int, default=300000, metavar="N")
        if command == "export":
            parser.add_argument("--out", metavar="DIR", help="where the vector files go (default: <run>/export)")

    def evaluate(self, run, options=None):
        wv = commands.resolve_vectors(options) if run is None else run_vectors(run)
        restrict = getattr(options, "restrict_vocab", None) or (run.config.restrict_vocab if run else 300000)
        result = evaluate(wv, restrict)
        if run is not None:
            write_json(run.path / "eval" / "metrics.json", result)
        return result

    def format_evaluation(self, result):
        return format_evaluation(result)

    def export(self, run, options=None, root="saved_models"):
        """word2vec text + binary, projector TSVs and the SavedModel lookup; returns its folder.
        From --vectors FILE the export records that file (source.json) instead of a config."""
        wv = commands.resolve_vectors(options) if run is None else run_vectors(run)
        out = getattr(options, "out", None) or (run.path / "export" if run else pathlib.Path("vectors-export"))
        metrics = {k: v for k, v in evaluate(wv, run.config.restrict_vocab if run else 300000).items()
                   if k != "analogy_sections"}
        paths = export(wv, out, root=root, config=run.config if run else None, metrics=metrics,
                       source=None if run else {"vectors": str(options.vectors)})
        for name, path in paths.items():
            if name != "saved_model":
                print(f"{name}: {path}")
        return paths["saved_model"]

    def add_commands(self, sub):
        commands.add_commands(sub)

    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True, verbose=0)
        out = context.directory / self.name
        wv = run_vectors(run)
        result = evaluate(wv, config.restrict_vocab)
        paths = export(wv, out / "vectors", root=context.model_root, config=config,
                       metrics={k: v for k, v in result.items() if k != "analogy_sections"})
        _, bias = debias.report(wv)
        write_json(out / "debias_report.json", bias)
        plot = pca_plot(wv, DEFAULT_PLOT_WORDS + ("police", "fire", "bushfire", "afghanistan", "taliban",
                                                  "australia", "sydney"),
                        out / "pca.png", title="Lee corpus word vectors, 2-D PCA")
        stats = run.read_json(STATS_FILE)
        context.report.add(
            "embeddings (word2vec skip-gram on the Lee corpus)",
            {"vocabulary": stats["vocabulary"], "words/s": round(stats["words_per_second"]),
             "WordSim-353 Spearman": round(result["wordsim353_spearman"], 3),
             "analogy accuracy": round(result["analogy_accuracy"], 4),
             "direct gender bias before -> after":
                 f"{bias['direct_bias_before']:.3f} -> {bias['direct_bias_after']:.3f}",
             "export": paths["saved_model"]},
            [plot],
            notes=f"{config.epochs} epochs over the 60k-word Lee news corpus from gensim's wheel (too small "
                  "for good analogies: the benchmark uses an 11M-word corpus). Vectors exported as word2vec "
                  "text/binary, projector TSVs and a SavedModel lookup.")


class _SetErrors(argparse.Action):
    """`--errors X` is `--set errors=X`, in command-line order with the other --set flags."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.set = [*(getattr(namespace, "set", None) or []), f"errors={values}"]


TASK = EmbeddingsTask()

"""The embeddings step of `classics tour`: word2vec on the Lee corpus, evaluate, export, plot."""

import dataclasses
import json
import time


def tour_step(context) -> None:
    from apps.common import config as config_lib
    from apps.embeddings import commands, debias
    from apps.embeddings.config import PRESETS, Config

    config = config_lib.apply_overrides(Config(), {**PRESETS["tour"], "preset": "tour"}, "tour")
    config = dataclasses.replace(config, runs_dir=str(context.directory / "runs"))
    out = context.directory / "embeddings"
    started = time.monotonic()
    run_dir = commands.train(config, fresh=True, verbose=0)
    seconds = time.monotonic() - started
    wv = commands.load_run_vectors(run_dir)
    result = commands.evaluate(wv, config.restrict_vocab)
    paths = commands.export(wv, out / "vectors", root=context.model_root, config=config,
                            metrics={k: v for k, v in result.items() if k != "analogy_sections"})
    _, bias = debias.report(wv)
    (out / "debias_report.json").write_text(json.dumps(bias, indent=2) + "\n")
    plot = commands.pca_plot(wv, commands.DEFAULT_PLOT_WORDS + ("police", "fire", "bushfire", "afghanistan",
                                                                "taliban", "australia", "sydney"),
                             out / "pca.png", title="Lee corpus word vectors, 2-D PCA")
    stats = json.loads((run_dir / "train_stats.json").read_text())
    context.report.add(
        "embeddings (word2vec skip-gram on the Lee corpus)",
        {
            "vocabulary": stats["vocabulary"],
            "words/s": round(stats["words_per_second"]),
            "WordSim-353 Spearman": round(result["wordsim353_spearman"], 3),
            "analogy accuracy": round(result["analogy_accuracy"], 4),
            "direct gender bias before -> after": f"{bias['direct_bias_before']:.3f} -> "
                                                  f"{bias['direct_bias_after']:.3f}",
            "train seconds": round(seconds, 1),
            "export": paths["saved_model"],
        },
        [plot],
        notes=f"{config.epochs} epochs over the 60k-word Lee news corpus from gensim's wheel "
              "(too small for good analogies: the benchmark uses an 11M-word corpus). Vectors "
              "exported as word2vec text/binary, projector TSVs and a SavedModel lookup.",
    )

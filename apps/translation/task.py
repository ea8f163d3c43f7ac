"""Translation on the app contract: data (dates, Bible verses, tsv:), the attention models,
exact match / BLEU / chrF through the export's own decoding, the strings-in export, tour."""

import pathlib
import shutil

import numpy as np

from apps.common import report
from apps.common.errors import ConfigError, DataError
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.task import Task
from apps.translation.config import PRESETS, Config
from apps.translation.data import load_data, make_dataset
from apps.translation.losses import SmoothedSparseCrossentropy
from apps.translation.metrics import corpus_bleu, corpus_chrf, exact_match_by_group
from apps.translation.model import Seq2SeqEnsemble, build_model, built
from apps.translation.plots import attention_png
from apps.translation.serving import export_module


class TranslationTask(Task):
    name = "translation"
    description = "sequence-to-sequence translation with attention, greedy and beam search in the export"
    data_help = ("Data: dates (embedded default: human dates in 5 locales -> ISO, generated with Babel), "
                 "bible (KJV -> Reina-Valera 1909 verses from Debian's SWORD modules), tsv:<file>.")
    Config, presets = Config, PRESETS
    monitor, mode = "val_loss", "min"
    predicts = "texts to translate"
    tour_seconds = 60.0  # 66 s of CPU in all (train 5 epochs, export, heat-maps) measured under load

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
        optimizer = make_optimizer(config, steps, learning_rate)
        if config.clip_norm:  # the same Adam, its global gradient norm clipped (long verses spike)
            optimizer = keras.optimizers.Adam.from_config(
                {**optimizer.get_config(), "global_clipnorm": config.clip_norm})
        # Padding positions weigh 0 (the datasets' sample weights), in the loss and the accuracy.
        loss = (SmoothedSparseCrossentropy(config.label_smoothing) if config.label_smoothing
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.compile(optimizer=optimizer, loss=loss,
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def members(self, config):
        return config.ensemble

    def combine(self, models, config):
        return built(Seq2SeqEnsemble(models), config)

    def kept(self, config):
        return "last" if config.train_on_val else self.keep

    def patience(self, config):
        return 0 if config.train_on_val else super().patience(config)

    def datasets(self, config, data):
        return (make_dataset(data.train, data, config, shuffle=True),
                make_dataset(data.val, data, config))

    # ------------------------------------------------------------ a finished run
    def module(self, run, data=None):
        data = data or load_data(run.config)
        return export_module(run.load_model(), run.config, data.source_vocabulary, data.target_vocabulary), data

    def outputs(self, function, texts, batch_size=256):
        """{output name: NumPy array} of an export signature over `texts`, in batches."""
        import tensorflow as tf

        parts = [function(texts=tf.constant(list(texts[start:start + batch_size])))
                 for start in range(0, len(texts), batch_size)]
        return {name: np.concatenate([part[name].numpy() for part in parts]) for name in parts[0]}

    def translate(self, module, texts, beam=False, batch_size=256):
        """Translations of `texts` through the export's graph: greedy, or the best beam."""
        if not texts:
            return []
        if beam:
            return [t.decode("utf-8") for t in self.outputs(module.beam, texts, batch_size)["translations"][:, 0]]
        return [t.decode("utf-8") for t in self.outputs(module.translate, texts, batch_size)["translation"]]

    def attention_examples(self, function, texts):
        """(source characters, output characters, weights, caption) per text, for plots.attention_png;
        `function`: the export's attention signature (in process or loaded)."""
        got = self.outputs(function, texts)
        decode = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])
        return [(decode(got["characters"][i]), decode(got["outputs"][i]), got["attention"][i],
                 f"\u201c{_short(text)}\u201d \u2192 {_short(got['translation'][i].decode('utf-8'))}")
                for i, text in enumerate(texts)]

    def add_arguments(self, command, parser):
        if command in ("evaluate", "predict"):
            parser.add_argument("--beam", action="store_true",
                                help="beam search (the config's beam_width, length_alpha) instead of greedy; "
                                     "model=seq2seq")

    def _beam(self, run, options):
        beam = bool(getattr(options, "beam", False))
        if beam and run.config.model != "seq2seq":
            raise ConfigError(f"--beam: the run's model is {run.config.model!r}; beam search needs "
                              "model=seq2seq (the course model has no feedback to search over)")
        return beam

    def evaluate(self, run, options=None, out_dir=None):
        """Exact match (per locale for dates), BLEU and chrF (our code, equal to sacrebleu) of the
        export's greedy (or --beam) decoding on the test pairs; a few examples and an attention
        heat-map of the first four."""
        beam = self._beam(run, options)
        (module, _), data = self.module(run)
        sources = [p.source for p in data.test]
        references = [p.target for p in data.test]
        hypotheses = self.translate(module, sources, beam=beam)
        exact = sum(h == r for h, r in zip(hypotheses, references)) / max(1, len(references))
        out_dir = pathlib.Path(out_dir or run.path / "eval")
        result = {"pairs": len(references), "decoding": "beam" if beam else "greedy", "exact_match": exact,
                  "exact_match_by_locale": exact_match_by_group(hypotheses, references, data.test_groups),
                  "bleu": corpus_bleu(hypotheses, references).score,
                  "chrf": corpus_chrf(hypotheses, references), "data": run.config.data,
                  "examples": [{"source": s, "translation": h, "reference": r}
                               for s, h, r in list(zip(sources, hypotheses, references))[:8]]}
        if sources:
            result["attention_png"] = str(attention_png(self.attention_examples(module.attention, sources[:4]),
                                                        out_dir / "attention.png", "attention of held-out examples"))
        write_json(out_dir / "metrics.json", result)
        return result

    def format_evaluation(self, result):
        lines = [f"{result['pairs']} test pairs, {result['decoding']} decoding: exact match "
                 f"{100 * result['exact_match']:.2f} %, BLEU {result['bleu']:.2f}, chrF {result['chrf']:.2f}"]
        lines += [f"  {group}: exact match {100 * match:.2f} % of {count}"
                  for group, (match, count) in result.get("exact_match_by_locale", {}).items()]
        lines += [f"  {e['source']!r} -> {e['translation']!r} (reference {e['reference']!r})"
                  for e in result["examples"]]
        if "attention_png" in result:
            lines.append(f"attention heat-map: {result['attention_png']}")
        return "\n".join(lines)

    def predict(self, run, inputs, options=None):
        """{text, translation, notice} per text, through the export's graph. A text the export
        refuses (empty, no letter or digit, too long, no known character) is an error."""
        beam = self._beam(run, options)
        texts = [str(t) for t in inputs]
        if not texts:
            raise DataError("no text to translate: give one or more texts")
        (module, _), _ = self.module(run)
        got = self.outputs(module.translate, texts)
        for i, problem in enumerate(got["error"], start=1):
            if problem:
                raise DataError(f"text {i}: {problem.decode('utf-8')}; give something to translate")
        translations = self.translate(module, texts, beam=beam)
        return [{"text": t, "translation": h, "notice": n.decode("utf-8")}
                for t, h, n in zip(texts, translations, got["notice"])]

    def format_prediction(self, entry):
        return f"{entry['text']}\t{entry['translation']}" + (f"\t({entry['notice']})" if entry["notice"] else "")

    def serving(self, run, options=None):
        (module, signatures), _ = self.module(run)
        return module, signatures, {}

    # ------------------------------------------------------------ tour
    def tour(self, context):
        import tensorflow as tf

        config = self.tour_config(context)
        run = self.train(config, fresh=True, verbose=0)
        out_dir = context.directory / self.name
        version = self.export(run, root=context.model_root)  # evaluates the run into run.path/eval
        result = run.read_json("eval/metrics.json")
        out_dir.mkdir(parents=True, exist_ok=True)
        held_out_map = pathlib.Path(shutil.copy(result["attention_png"], out_dir / "attention_held_out.png"))
        # Dates typed for the tour, through the SavedModel just exported.
        served = tf.saved_model.load(str(version)).signatures["attention"]
        picked = self.attention_examples(served, list(TOUR_DATES))
        heat_map = attention_png(picked, out_dir / "attention_tour.png",
                                 "attention: the source characters each ISO character was read from")
        translated = "; ".join(caption for *_, caption in picked)
        held_out = "; ".join(f"\u201c{e['source']}\u201d \u2192 {e['translation']}" for e in result["examples"])
        by_locale = {f"exact match {group}": match for group, (match, _) in result["exact_match_by_locale"].items()}
        context.report.add(
            "translation (human dates in 5 languages -> ISO, the course's attention model)",
            {"exact match": result["exact_match"], **by_locale, "chrF": result["chrf"],
             "test dates": result["pairs"], "export": str(version)},
            [heat_map, held_out_map, report.curves_png(run.log_rows(), ["accuracy", "val_accuracy"],
                                                       out_dir / "curves.png", title="token accuracy per epoch")],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset on dates written with Babel's CLDR "
                  "patterns in en_US, en_GB, fr_FR, de_DE and es_ES (calendar-year patterns; no date string "
                  f"is in two splits). Dates typed for the tour, through the exported SavedModel: {translated}. "
                  f"Held-out examples: {held_out}.")


def _short(text, limit=40):
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# Written as a user might (capitals, commas); the export normalises them as the training data.
TOUR_DATES = ("Tuesday, 09 Oct 1993", "3 May 1979", "samedi 31 décembre 2005", "9. März 2021",
              "miércoles, 31 de diciembre de 2025", "31.12.17")


TASK = TranslationTask()

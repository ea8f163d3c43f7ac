"""Generation on the app contract: corpora split by item, the character (or note) LM with
gradient clipping, held-out bits per symbol beside the best add-k n-gram of the same run,
in-graph sampling in the export, tour."""

import pathlib

from apps.common import report
from apps.common.errors import ConfigError
from apps.common.files import atomic_write_text, write_json
from apps.common.task import Task
from apps.generate import commands, ngram, render
from apps.generate.abc_check import check_abc, check_rate
from apps.generate.config import PRESETS, Config
from apps.generate.data import load_data, make_dataset, training_headers
from apps.generate.engrave import score_png
from apps.generate.metrics import bits_per_char
from apps.generate.model import build_model, compile_model
from apps.generate.serving import export_module


class GenerateTask(Task):
    name = "generate"
    description = "character-level language models that sample names and folk tunes; Bach chorale lines"
    data_help = ("Corpora: names (embedded default: Debian's miscfiles), latin (web2's Latin-like words), "
                 "oneills, airds, ryans (ABC tunes from music21's wheel), chorales (Bach soprano notes), "
                 "text:<file> (one item a line); several joined by '+'.")
    Config, presets = Config, PRESETS
    monitor, mode = "val_loss", "min"
    tour_seconds = 45.0  # names and two engraved tunes: 41 s at load 0.3-1.2 (46 s at load 3.5 before)

    def load_data(self, config):
        return load_data(config)

    def describe_data(self, data):
        dropped = ", ".join(f"{n} {why}" for why, n in data.dropped)
        moved = f" (+{len(data.transposed)} transposed)" if data.transposed else ""
        moved += f" (+{len(data.extra)} extra, training only)" if data.extra else ""
        return (f"{len(data.train)}{moved} train, {len(data.val)} validation, {len(data.test)} test items; "
                f"{len(data.vocabulary.chars)} symbols" + (f"; dropped: {dropped}" if dropped else ""))

    def build_model(self, config, data):
        return build_model(config, data.vocabulary.size, data.vocabulary.bar_id)

    def compile(self, model, config, data, learning_rate=None):
        compile_model(model, config, -(-len(data.fit_items) // config.batch_size))

    def datasets(self, config, data):
        return (make_dataset(data.fit_items, data.vocabulary, config.batch_size, shuffle=True, seed=config.seed,
                             by_length=config.by_length),
                make_dataset(data.val, data.vocabulary, config.batch_size))

    # ------------------------------------------------------------ a finished run
    def evaluate(self, run, options=None, out_dir=None):
        """Held-out bits per symbol of the model and of the best add-k n-gram (n 1..5, k chosen on
        validation) on the same test items; samples at temperature 1 (and their ABC check for tunes)."""
        config, data = run.config, load_data(run.config)
        model = run.load_model()
        result = {"data": config.data, "test_items": len(data.test),
                  "model_bits": bits_per_char(model, make_dataset(data.test, data.vocabulary, config.batch_size))}
        best = None  # fitted on the training items, or on all the model trains on: whichever validates better
        for n in range(1, 6):
            for items in (data.train, data.fit_items) if data.fit_items != data.train else (data.train,):
                fitted, _ = ngram.choose_k(items, data.val, n)
                val_bits = ngram.bits_per_char(fitted, data.val)
                if best is None or val_bits < best[0]:
                    best = (val_bits, n, fitted)
        _, n, fitted = best
        result.update(ngram_n=n, ngram_k=fitted.k, ngram_bits=ngram.bits_per_char(fitted, data.test))
        samples = [e["text"] for e in self.sample(run, "", 20, 1.0, 0, None, 0, model=model, data=data)]
        result["samples"] = samples
        if "K:" in "".join(samples[:3]) or config.data.split("+")[0] in ("oneills", "airds", "ryans"):
            result["abc_valid_rate"] = check_rate(samples)[0]
        write_json(pathlib.Path(out_dir or run.path / "eval") / "metrics.json", result)
        return result

    def format_evaluation(self, result):
        lines = [f"held-out bits per symbol on {result['test_items']} test items: model {result['model_bits']:.3f}, "
                 f"best add-k n-gram (n={result['ngram_n']}, k={result['ngram_k']:g}) {result['ngram_bits']:.3f}"]
        if "abc_valid_rate" in result:
            lines.append(f"samples that parse as ABC tunes: {100 * result['abc_valid_rate']:.0f} %")
        lines += [f"  {s}" for s in result["samples"][:10]]
        return "\n".join(lines)

    def sample(self, run, prefix, n, temperature=None, top_k=None, max_length=None, seed=0, model=None, data=None):
        """n samples through the export's sampler (sample i with seed + i); `prefix` is one text
        for all, or a list of n (one per sample)."""
        import tensorflow as tf

        config = run.config
        data = data or load_data(config)
        module, signatures = export_module(model or run.load_model(), config, data.vocabulary)
        t = config.temperature if temperature is None else temperature
        k = config.top_k if top_k is None else top_k
        length = config.max_sample_length if max_length is None else max_length
        prefixes = [prefix] * n if isinstance(prefix, str) else list(prefix)
        if len(prefixes) != n:
            raise ConfigError(f"{len(prefixes)} prefixes for {n} samples: give one, or one per sample")
        out = signatures["serving_default"](
            prefix=tf.constant(prefixes), temperature=tf.constant([t] * n, tf.float32),
            top_k=tf.constant([k] * n, tf.int32), max_length=tf.constant([length] * n, tf.int32),
            seed=tf.constant([seed + i for i in range(n)], tf.int64))
        refused = [e.decode("utf-8") for e in out["error"].numpy() if e]
        if refused:  # the export's own verdict, so the CLI refuses what a server would
            raise ConfigError(refused[0])
        return [{"text": text.decode("utf-8"), "ended": bool(ended), "seed": seed + i, "temperature": t}
                for i, (text, ended) in enumerate(zip(out["text"].numpy(), out["ended"].numpy()))]

    def serving(self, run, options=None):
        module, signatures = export_module(run.load_model(), run.config, load_data(run.config).vocabulary)
        return module, signatures, {}

    def add_commands(self, sub):
        commands.add_commands(self, sub)

    # ------------------------------------------------------------ tour
    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True, verbose=0)
        result = self.evaluate(run, out_dir=context.directory / self.name)
        version = self.export(run, root=context.model_root)
        context.report.add(
            "generation (a character LSTM on Debian's 1,516 proper names)",
            {"held-out bits/char": result["model_bits"],
             f"best add-k n-gram (n={result['ngram_n']})": result["ngram_bits"], "export": str(version)},
            [report_curves(run, context)],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset; names split by name, the test names "
                  "never trained on. Ten names sampled at temperature 1 through the export: "
                  + ", ".join(result["samples"][:10]))
        self.tour_tunes(context)

    def tour_tunes(self, context, candidates: int = 8, temperature: float = 0.6):
        """A small LSTM on O'Neill's tunes (the 'tour-tunes' preset), `candidates` tunes sampled
        through the export's signature, each primed with a training tune's M/L/K header; the two
        valid ones (>= 8 bars) whose bars best fill the meter engraved as score pictures (our own
        engraver, apps/generate/engrave.py) and written as MIDI and ABC."""
        config = self.tour_config(context, "tour-tunes")
        run = self.train(config, fresh=True, verbose=0)
        data = load_data(config)
        samples = self.sample(run, training_headers(data, candidates, config.seed), candidates, temperature,
                              data=data)
        checks = [check_abc(s["text"]) for s in samples]
        # the two that keep the meter best (then the longest)
        order = sorted((i for i, c in enumerate(checks) if c.valid and c.bars >= 8),
                       key=lambda i: (-checks[i].full_bars, -checks[i].bars))[:2]
        folder = context.directory / self.name
        images, files = [], []
        for rank, i in enumerate(order, start=1):
            score = render.abc_score(samples[i]["text"])
            images.append(score_png(
                score, folder / f"tune{rank}.png",
                title=f"sampled tune {rank} (seed {samples[i]['seed']}, T={temperature}, {checks[i].bars} bars)"))
            files.append(render.write_midi(score, folder / f"tune{rank}.mid").name)
            atomic_write_text(folder / f"tune{rank}.abc", "X:1\n" + samples[i]["text"] + "\n")
        valid = sum(c.valid for c in checks)
        context.report.add(
            "generation (a character LSTM on O'Neill's tunes in ABC)",
            {"tunes valid ABC (music21)": f"{valid} of {candidates}",
             "bars of the drawn tunes": ", ".join(str(checks[i].bars) for i in order) or "-",
             "their inner bars that fill the meter": ", ".join(f"{checks[i].full_bars:.0%}" for i in order) or "-",
             "MIDI": ", ".join(files) or "-"},
            images,
            notes=f"{config.epochs} epochs of the 'tour-tunes' preset (an LSTM of {config.units}; the 'tunes' "
                  f"preset trains longer and bigger). {candidates} tunes sampled at temperature {temperature}, "
                  "each after the M/L/K header of a training tune; of those music21 reads with >= 8 bars, the two "
                  "whose bars best fill the meter engraved by our own engraver (no MuseScore or LilyPond needed; "
                  "no beams, ties or slurs) and written as MIDI and ABC. music21 reads loose ABC, so a valid "
                  "tune of this short training can still wander off the meter; benchmarks/generate.py measures "
                  "the 'tunes' model. "
                  + ("" if len(order) == 2 else f"Only {len(order)} of the samples were valid ABC."))


def report_curves(run, context):
    return report.curves_png(run.log_rows(), ["loss", "val_loss"], context.directory / "generate" / "curves.png",
                             title="names: cross-entropy (nats) per epoch")


TASK = GenerateTask()

"""Wake-word detection on the app contract: composed 10 s clips, the course's Conv1D + GRU
model, a threshold chosen on a validation stream, the held-out hour scored in events (recall,
false accepts per hour) beside the all-zeros and energy baselines, the audio-in export,
`detect`, tour."""

import dataclasses
import json
import pathlib

import numpy as np

from apps.common import cli
from apps.common.errors import DataError
from apps.common.files import write_json
from apps.common.task import Task
from apps.wakeword import detect as detect_lib
from apps.wakeword import evaluation
from apps.wakeword import stream as stream_lib
from apps.wakeword.compose import epoch_dataset
from apps.wakeword.config import PRESETS, Config
from apps.wakeword.data import load_data
from apps.wakeword.detect import stream_probabilities
from apps.wakeword.events import energy_probabilities
from apps.wakeword.model import build_model, compile_model
from apps.wakeword.serving import export_module
from apps.wakeword.sounds import write_wav

THRESHOLD_FILE = "threshold.json"  # the validation stream's operating points and the choice
MAX_FALSE_ACCEPTS = 1.0  # per hour: the operating point


class WakewordTask(Task):
    name = "wakeword"
    description = ("trigger-word detection ('activate') on audio: GRUs over a frozen pretrained "
                   "speech embedding (or the course's Conv1D over a spectrogram)")
    data_help = ("Data: asterisk (embedded default: Debian's Asterisk prompts and music, espeak-ng and "
                 "Flite voices saying the trigger, Piper's for validation), folder:<dir> (positive/, "
                 "negative/, background/ WAVs).")
    Config, presets = Config, PRESETS
    monitor, mode = "val_loss", "min"
    predicts = "WAV files"
    tour_seconds = 80.0

    # ------------------------------------------------------------ data and model
    def load_data(self, config):
        return load_data(config)

    def describe_data(self, data):
        b = data.bank
        return (f"{len(b.positives)} trigger recordings, {len(b.negatives)} other words and prompts, "
                f"{len(b.backgrounds)} background tracks; clips composed afresh each epoch")

    def build_model(self, config, data):
        return build_model(config)

    def compile(self, model, config, data, learning_rate=None):
        compile_model(model, config, learning_rate)

    def datasets(self, config, data):
        import tensorflow as tf

        x, y = data.val
        return (epoch_dataset(data.bank, config),
                tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch_size))

    def finish(self, run, config, data):
        """The serving threshold: the highest validation recall at <= 1 false accept an hour."""
        model = run.load_model()
        waveform, placed = data.validation_stream(config)
        points = evaluation.operating_points(stream_probabilities(model, waveform, config), placed,
                                             len(waveform), config)
        threshold = evaluation.choose_threshold(points, MAX_FALSE_ACCEPTS)
        run.write_json(THRESHOLD_FILE, {
            "threshold": threshold, "max_false_accepts_per_hour": MAX_FALSE_ACCEPTS,
            "validation": [{"threshold": t, **evaluation.summary(s)} for t, s in points]})

    # ------------------------------------------------------------ a finished run
    def threshold(self, run) -> float:
        path = run.file(THRESHOLD_FILE)
        return float(run.read_json(THRESHOLD_FILE)["threshold"]) if path.exists() \
            else run.config.threshold

    def serving_config(self, run) -> Config:
        return dataclasses.replace(run.config, threshold=self.threshold(run))

    def evaluate(self, run, options=None, out_dir=None):
        """The held-out stream scored at the validation threshold, for the model, predict-all-
        zeros and the energy detector (its threshold chosen on validation the same way); the
        held-out curve's best points are reported as such (not choices)."""
        config = self.serving_config(run)
        data = load_data(run.config)
        model = run.load_model()
        waveform, placed = data.stream(config)
        probs = stream_probabilities(model, waveform, config)
        points = evaluation.operating_points(probs, placed, len(waveform), config)
        chosen = dict(points)[config.threshold] if config.threshold in dict(points) else \
            evaluation.operating_points(probs, placed, len(waveform), config, [config.threshold])[0][1]
        result = {"data": config.data, "threshold": config.threshold,
                  "model": evaluation.summary(chosen)}
        for limit in (1.0, 5.0, 20.0):
            recall, t = evaluation.best_recall(points, limit)
            result[f"heldout_best_recall_at_{limit:g}_fa_per_hour"] = {"recall": recall, "threshold": t}
        result["heldout_curve"] = [
            {"threshold": t, "recall": round(sc.recall, 4),
             "false_accepts_per_hour": round(sc.false_accepts_per_hour, 2),
             "hard_negative_accepts": sc.hard_negative_accepts} for t, sc in points]
        if run.file(THRESHOLD_FILE).exists():
            chosen_val = [p for p in run.read_json(THRESHOLD_FILE)["validation"]
                          if p["threshold"] == config.threshold]
            result["validation_at_threshold"] = chosen_val[0] if chosen_val else None
        zeros = evaluation.operating_points(np.zeros_like(probs), placed, len(waveform), config, [0.5])
        result["all_zeros"] = evaluation.summary(zeros[0][1])
        result["energy"] = self._energy(data, config, waveform, placed)
        out = pathlib.Path(out_dir or run.path / "eval")
        write_json(out / "metrics.json", result)
        return result

    def _energy(self, data, config, waveform, placed):
        val_wave, val_placed = data.validation_stream(config)
        val_points = evaluation.operating_points(energy_probabilities(val_wave, config), val_placed,
                                                 len(val_wave), config)
        threshold = evaluation.choose_threshold(val_points, MAX_FALSE_ACCEPTS)
        (_, score), = evaluation.operating_points(energy_probabilities(waveform, config), placed,
                                                  len(waveform), config, [threshold])
        return {"threshold": threshold, **evaluation.summary(score)}

    def format_evaluation(self, result):
        lines = [f"held-out stream, threshold {result['threshold']:g} (chosen on validation):"]
        for name in ("model", "energy", "all_zeros"):
            s = result[name]
            lines.append(f"  {name:9s} recall {s['recall']:.2f} ({s['detected']}/{s['triggers']}), "
                         f"{s['false_accepts_per_hour']:.1f} false accepts/hour "
                         f"({s['hard_negative_accepts']} on de-activated), frame accuracy "
                         f"{s['frame_accuracy']:.4f} (all zeros {s['all_zeros_frame_accuracy']:.4f})")
        for limit in (1, 5, 20):
            best = result[f"heldout_best_recall_at_{limit}_fa_per_hour"]
            lines.append(f"  best held-out recall at <= {limit} FA/h (any threshold): {best['recall']:.2f}")
        return "\n".join(lines)

    def serving(self, run, options=None):
        module, signatures = export_module(run.load_model(), self.serving_config(run))
        return module, signatures, {}

    def predict(self, run, inputs, options=None):
        if not inputs:
            raise DataError("wakeword predict: give one or more WAV files")
        config, model = self.serving_config(run), run.load_model()
        out_dir = pathlib.Path(getattr(options, "out_dir", None) or run.path / "detect")
        return [detect_lib.detect_file(model, path, config, config.threshold, out_dir)
                for path in inputs]

    def format_prediction(self, entry):
        events = ", ".join(f"{t:.2f} s" for t in entry["events"]) or "none"
        return (f"{entry['file']} ({entry['seconds']:.1f} s): events at {events}; "
                f"wrote {entry['chime_wav']} and {entry['png']}")

    def add_arguments(self, command, parser):
        if command == "predict":
            parser.add_argument("--out-dir", metavar="DIR",
                                help="where the chime WAVs and PNGs go (default: <run>/detect)")

    def add_commands(self, sub):
        p = sub.add_parser("detect", help="events in WAV files, a chime-overlaid WAV and a "
                                          "probability-over-spectrogram PNG each")
        p.add_argument("inputs", nargs="+", metavar="FILE.wav")
        cli.add_run_argument(p)
        p.add_argument("--out-dir", metavar="DIR", help="default: <run>/detect")
        p.add_argument("--json", action="store_true", help="one JSON object per line")
        p.set_defaults(func=lambda args: self._detect(args))
        p = sub.add_parser("stream", help="events printed as they happen, from a WAV file or "
                                          "stdin (a WAV stream or raw PCM), in constant memory")
        p.add_argument("source", nargs="?", default="-", metavar="SOURCE",
                       help="a WAV file, or - for stdin (default)")
        cli.add_run_argument(p)
        p.add_argument("--hop", type=float, default=stream_lib.DEFAULT_HOP_SECONDS,
                       metavar="SECONDS",
                       help="score the last clip every SECONDS (default %(default)g): the most "
                            "an event waits; the model runs clip/hop times per audio second. "
                            "Half the clip (5 s by default) gives exactly detect's events")
        p.add_argument("--raw", action="store_true",
                       help="headerless 16-bit little-endian PCM (arecord -t raw -f S16_LE)")
        p.add_argument("--rate", type=int, metavar="HZ",
                       help="with --raw: its sample rate (default: the model's, 8000)")
        p.add_argument("--channels", type=int, default=1, help="with --raw (default 1)")
        p.add_argument("--json", action="store_true", help="one JSON object per event")
        p.set_defaults(func=lambda args: self._stream(args))

    def _detect(self, args):
        for entry in self.predict(self.open(args), args.inputs, args):
            print(json.dumps(entry) if args.json else self.format_prediction(entry))

    def _stream(self, args):
        import sys

        if not args.raw and (args.rate or args.channels != 1):
            raise DataError("--rate and --channels describe --raw PCM; a WAV states its own")
        if args.channels < 1:
            raise DataError(f"--channels {args.channels}: at least 1")
        run = self.open(args)
        config = self.serving_config(run)
        hop = stream_lib.hop_steps(args.hop, config)
        chunks, handle = stream_lib.open_chunks(args.source, config, args.raw, args.rate,
                                                args.channels)
        predict = detect_lib.probability_fn(run.load_model(), config)
        try:
            for event in stream_lib.stream_events(predict, chunks, config, config.threshold, hop):
                print(json.dumps({"seconds": event.seconds, "probability": round(event.probability, 4)})
                      if args.json else f"event at {event.seconds:.2f} s "
                                        f"(probability {event.probability:.3f})", flush=True)
        finally:
            if handle is not None:
                handle.close()
        print(f"end of stream (threshold {config.threshold:g})", file=sys.stderr)

    # ------------------------------------------------------------ tour
    def tour(self, context):
        config = self.tour_config(context)
        run = self.train(config, fresh=True, verbose=0)
        folder = context.directory / self.name
        result = self.evaluate(run, out_dir=folder)
        version = self.export(run, root=context.model_root)
        data = load_data(config)
        waveform, placed = data.stream(dataclasses.replace(config, eval_hours=12 / 3600,
                                                           eval_positives=2, eval_hard_negatives=1))
        clip = folder / "heldout_clip.wav"
        write_wav(clip, waveform, config.sample_rate)
        found = detect_lib.detect_file(run.load_model(), clip, self.serving_config(run),
                                       self.threshold(run), folder)
        m = result["model"]
        context.report.add(
            f"wake word ('activate': GRUs over the {config.frontend})",
            {"held-out recall": f"{m['recall']:.2f} ({m['detected']}/{m['triggers']})",
             "false accepts / hour": m["false_accepts_per_hour"],
             "energy detector recall, FA/h": f"{result['energy']['recall']:.2f}, "
                                              f"{result['energy']['false_accepts_per_hour']:.1f}",
             "frame accuracy (all zeros)": f"{m['frame_accuracy']:.4f} "
                                           f"({m['all_zeros_frame_accuracy']:.4f})",
             "chime WAV": pathlib.Path(found["chime_wav"]).name, "export": str(version)},
            [found["png"]],
            notes=f"{config.epochs} epochs of the '{config.preset}' preset (small; benchmarks/wakeword.py "
                  "measures the default model). Held-out: Allison's real activated.wav (never trained "
                  "on) and de-activated.wav on held-out prompts and music, threshold chosen on a "
                  f"validation stream of an unseen synthetic voice ({config.validation_voice}). "
                  "The picture: a held-out 12 s "
                  f"clip with {sum(p.kind == 'positive' for p in placed)} triggers; events at "
                  f"{found['events']}.")


TASK = WakewordTask()

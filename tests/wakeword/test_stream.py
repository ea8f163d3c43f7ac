"""`classics wakeword stream`: the same windows, scores and events as `detect`, from a file,
a WAV stream or raw PCM on stdin, in memory that does not grow with the stream; bad input
exits 2 with one line."""

import dataclasses
import io
import json
import tracemalloc
import wave

import numpy as np
import pytest

from apps.common.config import save_config
from apps.common.run import BEST_MODEL, CONFIG, DONE
from apps.entry import main
from apps.wakeword import detect, events, stream
from apps.wakeword.config import PRESETS, Config, output_steps, step_seconds
from apps.wakeword.model import build_model
from apps.wakeword.sounds import write_wav

TINY = Config(**PRESETS["tiny"].values)  # 2 s clips: detect's windows every 1 s
SECONDS = 9.3  # several windows and a zero-padded last one


def _audio(seconds=SECONDS, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * TINY.sample_rate)
    return (rng.standard_normal(n) * np.linspace(0.01, 0.5, n)).astype(np.float32)


_RUNS = {}


@pytest.fixture(scope="module", params=["spectrogram", "speech-embedding"])
def finished(request, tmp_path_factory):
    return _finished(request.param, tmp_path_factory)


def _finished(frontend, tmp_path_factory):
    """A finished run of a tiny model with random weights (outputs that vary over time), its
    threshold set so that events fire: (run dir, config, predict, wav path)."""
    if frontend in _RUNS:
        return _RUNS[frontend]
    config = dataclasses.replace(TINY, frontend=frontend, refractory_seconds=0.3)
    model = build_model(config)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights + model.non_trainable_weights:
        if not any(k in w.path for k in ("gamma", "variance", "mel/", "speech_embedding/")):
            w.assign(rng.uniform(-0.6, 0.6, w.shape).astype(np.float32))
    predict = detect.probability_fn(model, config)
    x = _audio()
    probs = events.windowed_probabilities(predict, x, config)
    config = dataclasses.replace(config, threshold=float(np.quantile(probs, 0.8)))
    run = tmp_path_factory.mktemp(f"run-{frontend}")
    save_config(config, run / CONFIG)
    model.save(run / BEST_MODEL)
    (run / DONE).write_text("test\n")
    write_wav(run / "in.wav", x)
    _RUNS[frontend] = run, config, predict, run / "in.wav"
    return _RUNS[frontend]


def _chunks(x, size):
    return (x[i:i + size] for i in range(0, len(x), size))


def test_stream_core_gives_detects_scores_and_events_from_any_chunks(finished):
    _, config, predict, _ = finished
    x = _audio()
    want = events.windowed_probabilities(predict, x, config)
    refractory = round(config.refractory_seconds / step_seconds(config))
    want_steps = events.detect_events(want, config.threshold, refractory)
    assert len(want_steps) >= 3
    for size in (777, 8000, len(x)):  # chunks across window and hop boundaries
        scorer = events.WindowScorer(predict, config, batch=1)
        got = np.concatenate([scorer.feed(c) for c in _chunks(x, size)] + [scorer.finish()])
        np.testing.assert_allclose(got, want, atol=1e-5)
        found = list(stream.stream_events(predict, _chunks(x, size), config, config.threshold))
        assert [e.step for e in found] == list(want_steps)
    def interrupted(size):  # Ctrl-C after 5 s: the steps of those 5 s, then a clean end
        yield from _chunks(x[:5 * config.sample_rate], size)
        raise KeyboardInterrupt

    short = events.windowed_probabilities(predict, x[:5 * config.sample_rate], config)
    found = list(stream.stream_events(predict, interrupted(3000), config, config.threshold))
    assert [e.step for e in found] == list(events.detect_events(short, config.threshold, refractory))
    # A shorter hop: windows every 0.4 s, each giving its last 0.4 s of steps (more context
    # than detect's half clip, so scores differ from detect's, as stream.py states).
    hop = stream.hop_steps(0.4, config)
    want_hop = events.windowed_probabilities(predict, x, config, hop_steps=hop)
    scorer = events.WindowScorer(predict, config, hop, batch=1)
    got = np.concatenate([scorer.feed(c) for c in _chunks(x, 1234)] + [scorer.finish()])
    np.testing.assert_allclose(got, want_hop, atol=1e-5)
    assert got.shape == want.shape and not np.allclose(got, want, atol=1e-3)


def test_stream_memory_is_flat_in_the_stream_length():
    config = TINY
    steps = output_steps(int(config.clip_seconds * config.sample_rate), config)

    def predict(windows):  # the model's cost is not what is measured here
        return np.full((len(windows), steps), 0.9, np.float32)

    def peak(seconds):
        detector = stream.StreamDetector(predict, config, 0.5, stream.hop_steps(0.4, config))
        chunk = np.zeros(800, np.float32)
        tracemalloc.start()
        count, largest = 0, 0
        for _ in range(int(seconds * config.sample_rate) // len(chunk)):
            count += len(detector.feed(chunk))
            largest = max(largest, len(detector.scorer.buffer))
        count += len(detector.finish())
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top, largest, count

    short, long = peak(60), peak(240)
    assert long[1] == short[1] < config.clip_seconds * config.sample_rate  # < one clip held
    assert long[2] > 3 * short[2] > 0  # events kept coming (one a refractory period)
    assert long[0] < 1.2 * short[0] + 20_000, (short, long)


def _cli(capsys, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        class Stdin:
            buffer = io.BytesIO(stdin)
        monkeypatch.setattr("sys.stdin", Stdin)
    code = main(["wakeword", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stream_command_prints_detects_events_from_a_file_and_stdin(finished, capsys, monkeypatch,
                                                                    tmp_path):
    run, config, _, wav = finished
    code, out, err = _cli(capsys, "detect", str(wav), "--run", str(run), "--json",
                          "--out-dir", str(tmp_path))
    assert code == 0, err
    want = json.loads(out)["events"]
    assert len(want) >= 3
    hop = str(config.clip_seconds / 2)  # detect's windows
    code, out, err = _cli(capsys, "stream", str(wav), "--run", str(run), "--json", "--hop", hop)
    assert code == 0, err
    assert [json.loads(line)["seconds"] for line in out.splitlines()] == want
    code, out, err = _cli(capsys, "stream", "-", "--run", str(run), "--hop", hop,
                          stdin=wav.read_bytes(), monkeypatch=monkeypatch)
    assert code == 0, err
    assert [float(line.split()[2]) for line in out.splitlines()] == want
    with wave.open(str(wav)) as w:
        pcm = w.readframes(w.getnframes())
    stereo = np.repeat(np.frombuffer(pcm, "<i2"), 2).tobytes()  # both channels the same
    code, out, err = _cli(capsys, "stream", "--raw", "--channels", "2", "--run", str(run), "--json",
                          "--hop", hop, stdin=stereo, monkeypatch=monkeypatch)
    assert code == 0, err
    assert [json.loads(line)["seconds"] for line in out.splitlines()] == want


def test_bad_stream_input_exits_2_with_one_line(tmp_path_factory, capsys, monkeypatch, tmp_path):
    run = str(_finished("spectrogram", tmp_path_factory)[0])  # one front end: the reader is shared
    silence = tmp_path / "silence.wav"
    write_wav(silence, np.zeros(24000, np.float32))
    code, out, err = _cli(capsys, "stream", str(silence), "--run", run)
    assert (code, out) == (0, "")  # silence: no events, a clean end
    code, out, err = _cli(capsys, "detect", str(silence), "--run", run, "--json",
                          "--out-dir", str(tmp_path))
    assert code == 0 and json.loads(out)["events"] == [], err
    (tmp_path / "junk.wav").write_bytes(b"RIFF but nothing else of a WAV file")
    write_wav(tmp_path / "fast.wav", np.zeros(16000, np.float32), rate=16000)
    truncated = silence.read_bytes()[:30]
    cases = [
        (["stream", "-"], b"this is not a WAV file at all, just some bytes", "not a readable PCM WAV"),
        (["stream", "-"], truncated, "not a readable PCM WAV"),
        (["stream", str(tmp_path / "fast.wav")], None, "16000 Hz"),
        (["stream", "--raw", "--rate", "44100"], b"\0" * 100, "44100 Hz"),
        (["stream", str(silence), "--hop", "0.01"], None, "--hop 0.01"),
        (["stream", str(silence), "--hop", "3"], None, "--hop 3"),
        (["stream", str(tmp_path / "missing.wav")], None, "cannot open"),
        (["detect", str(tmp_path / "junk.wav"), "--out-dir", str(tmp_path)], None,
         "not a readable PCM WAV"),
    ]
    for args, stdin, message in cases:
        code, out, err = _cli(capsys, *args, "--run", run, stdin=stdin,
                              monkeypatch=monkeypatch if stdin is not None else None)
        assert code == 2 and err.startswith("error: ") and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err

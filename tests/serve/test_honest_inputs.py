"""Odd inputs through the classification and sentiment exports, in process (the SavedModel) and
through `classics serve`: each refused instance gets {"error": ...} in its place, the others the
in-process numbers of the same batch, with `unsure` beside them; an empty batch is empty."""

import base64
import dataclasses
import io

import exports
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from serve_helpers import reference

from apps.common import ood

PNG_1X1 = "image of 1x1 px: a side under the minimum of 8 px"
PNG_4000 = "image of 4000x4000 px: over the maximum of 4194304 pixels"
SENTIMENT_LIMIT = 200  # export_max_chars of the sentiment export below


def png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_export):
    """saved_models/ with the tiny classifier (TASK.export: calibrated on its validation split)
    and a small seeded sentiment model (export_module with a given calibration)."""
    import keras

    from apps.common import export as export_lib
    from apps.sentiment.config import PRESETS, Config
    from apps.sentiment.model import build_model, build_vocabulary
    from apps.sentiment.serving import export_module

    root = tmp_path_factory.mktemp("saved_models")
    exports.copy_version(tiny_export, root)
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(Config(**PRESETS["tiny"].values), export_max_chars=SENTIMENT_LIMIT)
    model = build_model(config, 2, build_vocabulary(["a good film", "a bad film", "dull and long"], config))
    model.set_weights([w + 0.05 for w in model.get_weights()])  # biases off zero: distinct outputs
    calibration = ood.Calibration("msp", 0.45, 0.95, 3, {"msp": 0.5})
    module, signatures = export_module(model, ["rotten", "fresh"], SENTIMENT_LIMIT, calibration)
    export_lib.write_saved_model("sentiment", module, signatures, root=root, config=config,
                                 labels=["rotten", "fresh"])
    return root


@pytest.fixture(scope="module")
def client(root, shared_server):
    return shared_server.serve(root, "honest")


@pytest.fixture(scope="module")
def images(digits):
    """A batch of 3 real digits and 4 refused images, with their verdicts."""
    _, pngs = digits
    big = png(np.zeros((4000, 4000), np.uint8))  # 16 MB of pixels, 16 kB of PNG
    corrupt = bytearray(pngs[1])
    corrupt[60:90] = b"\x00" * 30  # inside the compressed data: the decoder fails
    batch = [pngs[0], png(np.full((1, 1), 255, np.uint8)), big, bytes(corrupt), pngs[1], b"GIF8", pngs[2]]
    verdicts = ["", PNG_1X1, PNG_4000, "undecodable image: corrupt or truncated data", "",
                "not an image in a format the model decodes (PNG, JPEG, GIF, BMP, WebP)", ""]
    return batch, verdicts


GOOD = [0, 4, 6]


def test_classifier_saved_model_answers_per_instance(root, images, digits, tiny_run):
    batch, verdicts = images
    version = root / "classification" / "1"
    got = reference(version, "serving_default", image_bytes=np.array(batch, dtype=object))
    assert [e.decode() for e in got["error"]] == verdicts
    # The good instances: the pixels path on the same digits, to float32 rounding (other batch).
    pixels, _ = digits
    want = reference(version, "predict_images", images=pixels)
    np.testing.assert_allclose(got["probabilities"][GOOD], want["probabilities"], rtol=1e-5, atol=1e-7)
    assert got["class_ids"][GOOD].tolist() == want["class_ids"].tolist()
    # "unsure": the score above the threshold calibrated on the run's validation split (the
    # run's ood.json caches the last calibration asked for: other tests export ensembles).
    from apps.classification.task import TASK

    calibration = TASK.calibration(tiny_run)
    assert np.all(got["ood_threshold"] == np.float32(calibration.threshold))
    np.testing.assert_array_equal(got["unsure"], got["ood_score"] > got["ood_threshold"])
    _, want_scores = TASK.unsure_scores(tiny_run.load_model(), False, pixels, calibration)
    np.testing.assert_allclose(got["ood_score"][GOOD], want_scores, rtol=1e-4, atol=1e-5)
    empty = reference(version, "serving_default", image_bytes=np.array([], dtype=object))
    assert {k: v.shape[0] for k, v in empty.items()} == dict.fromkeys(got, 0)
    assert reference(version, "predict_images", images=np.zeros((0, 28, 28, 1), np.uint8))["unsure"].shape == (0,)


def test_classifier_calibration_keeps_98_percent_of_validation(tiny_run):
    from apps.classification.data import load_data
    from apps.classification.task import TASK

    calibration = TASK.calibration(tiny_run)
    assert calibration.score in ood.SCORES and calibration.pass_fraction == 0.98
    # "auto": the score that best tells validation images from their pixel-shuffled copies.
    assert calibration.proxy_auroc[calibration.score] == max(calibration.proxy_auroc.values())
    assert sorted(calibration.proxy_auroc) == sorted(ood.SCORES)
    _, val = TASK.unsure_scores(tiny_run.load_model(), False, load_data(tiny_run.config).x_val, calibration)
    assert len(val) == calibration.validation_count
    assert (val <= calibration.threshold).mean() >= 0.98 > (val < calibration.threshold).mean()


def test_classifier_served_answers_per_instance(client, root, images):
    batch, verdicts = images
    want = reference(root / "classification" / "1", "serving_default", image_bytes=np.array(batch, dtype=object))
    status, body, _ = client.post("/v1/models/classification:predict", {"instances": [b64(b) for b in batch]})
    assert status == 200, body
    rows = body["predictions"]
    for i, verdict in enumerate(verdicts):
        if verdict:
            assert rows[i] == {"error": verdict}
            continue
        assert sorted(rows[i]) == ["class_ids", "classes", "ood_score", "ood_threshold", "probabilities",
                                   "scores", "unsure"]
        np.testing.assert_array_equal(np.float32(rows[i]["probabilities"]), want["probabilities"][i])
        assert (rows[i]["unsure"], np.float32(rows[i]["ood_score"])) == (bool(want["unsure"][i]), want["ood_score"][i])
    status, body, _ = client.post("/v1/models/classification:predict", {"instances": []})
    assert (status, body) == (200, {"predictions": []})


def test_classifier_predict_refuses_what_the_export_refuses(tiny_run, tiny_export, images, tmp_path):
    from apps.classification.task import TASK
    from apps.common.errors import DataError

    batch, verdicts = images
    paths = []
    for i, data in enumerate(batch):
        paths.append(tmp_path / f"{i}.png")
        paths[-1].write_bytes(data)
    answers = TASK.predict(tiny_run, [paths[i] for i in GOOD])
    want = reference(tiny_export, "serving_default",
                     image_bytes=np.array([batch[i] for i in GOOD], dtype=object))
    for i, answer in enumerate(answers):
        assert answer["predictions"][0]["label"] == want["classes"][i].decode()
        assert answer["predictions"][0]["probability"] == pytest.approx(float(want["scores"][i]), abs=1e-6)
        assert answer["unsure"] == bool(want["unsure"][i])
        assert answer["ood_threshold"] == pytest.approx(float(want["ood_threshold"][i]))
    for i, verdict in enumerate(verdicts):
        if verdict and i != 3:  # the corrupt PNG: PIL's check names it differently
            with pytest.raises(DataError, match=f"{paths[i].name}: {verdict}".replace("(", r"\(").replace(")", r"\)")):
                TASK.predict(tiny_run, [paths[0], paths[i]])
    with pytest.raises(DataError, match="3.png"):
        TASK.predict(tiny_run, [paths[3]])


TEXTS = ["A moving, beautifully acted film.", "", "   \n\t", "?!... --", "good " * 50, "dull and long", "😀"]
TEXT_VERDICTS = ["", "empty or whitespace only", "empty or whitespace only", "no words: only punctuation or symbols",
                 f"text of 250 characters: over the maximum of {SENTIMENT_LIMIT}", "",
                 "no words: only punctuation or symbols"]


def test_sentiment_saved_model_and_server_answer_per_instance(client, root):
    version = root / "sentiment" / "1"
    got = reference(version, "serving_default", text=np.array([t.encode() for t in TEXTS], dtype=object))
    assert [e.decode() for e in got["error"]] == TEXT_VERDICTS
    loaded = tf.saved_model.load(str(version))
    keep = [0, 5]
    alone = loaded.signatures["serving_default"](text=tf.constant([TEXTS[i] for i in keep]))
    np.testing.assert_allclose(got["probabilities"][keep], alone["probabilities"].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["ood_score"], 1 - got["probabilities"].max(axis=1), atol=1e-6)
    np.testing.assert_array_equal(got["unsure"], got["ood_score"] > np.float32(0.45))
    status, body, _ = client.post("/v1/models/sentiment:predict", {"instances": TEXTS})
    assert status == 200, body
    for i, verdict in enumerate(TEXT_VERDICTS):
        if verdict:
            assert body["predictions"][i] == {"error": verdict}
        else:
            np.testing.assert_array_equal(np.float32(body["predictions"][i]["probabilities"]), got["probabilities"][i])
            assert body["predictions"][i]["unsure"] == bool(got["unsure"][i])
            assert np.float32(body["predictions"][i]["ood_threshold"]) == np.float32(0.45)
    assert client.post("/v1/models/sentiment:predict", {"instances": []})[:2] == (200, {"predictions": []})
    empty = reference(version, "serving_default", text=np.array([], dtype=object))
    assert all(v.shape[0] == 0 for v in empty.values())


REFERENCE = ["a good film with a fine cast", "a bad film with a dull plot", "the cast is good and the plot is fine",
             "the film is dull and the cast is bad"]
ODD_TEXTS = ["the film is good and the cast is fine",  # pairs of the reference: familiar
             "fine is cast the and good is film the",  # the same words shuffled: word salad
             "la película es buena y el reparto es bueno",  # Spanish: unknown words
             "", "good"]  # refused; one word: no pair, the prior


@pytest.fixture(scope="module")
def bigram_root(tmp_path_factory):
    """saved_models/ with a small seeded sentiment model whose `unsure` is the bigram score
    calibrated (ood.calibrate with `extra`) on the reference sentences against their shuffles."""
    import keras

    from apps.common import export as export_lib
    from apps.common import text_ood
    from apps.sentiment import familiar
    from apps.sentiment.config import PRESETS, Config
    from apps.sentiment.model import build_model, build_vocabulary
    from apps.sentiment.serving import WholeText, export_module, ragged_tokens

    root = tmp_path_factory.mktemp("bigram_models")
    keras.utils.set_random_seed(0)
    config = Config(**PRESETS["tiny"].values)
    model = build_model(config, 2, build_vocabulary(REFERENCE, config))
    tokens = ragged_tokens(model)
    bigrams = text_ood.fit_bigrams([np.array(r) for r in familiar.ragged_ids(tokens, REFERENCE).to_list()],
                                   tokens.vocabulary_size())
    val_ids = familiar.ragged_ids(tokens, REFERENCE)
    prior = text_ood.prior_of(bigrams, val_ids)
    score = text_ood.FamiliarityScore(bigrams, prior)
    shuffled = ood.shuffled_words(REFERENCE, 0)
    zeros = np.zeros((len(REFERENCE), 1), np.float32)
    calibration = ood.calibrate(zeros, zeros, "bigram", 1.0, extra={"bigram": (
        score(val_ids).numpy(), score(familiar.ragged_ids(tokens, shuffled)).numpy())},
        params={"bigram": {"prior": prior}})
    module, signatures = export_module(model, ["rotten", "fresh"], 200, calibration,
                                       WholeText(model, config.sequence_length), score)
    export_lib.write_saved_model("sentiment", module, signatures, root=root, config=config, labels=["rotten", "fresh"])
    return root, score, tokens


def test_word_salad_and_spanish_are_unsure_in_the_saved_model_and_the_server(bigram_root, shared_server):
    from apps.sentiment import familiar

    root, score, tokens = bigram_root
    got = reference(root / "sentiment" / "1", "serving_default", text=np.array([t.encode() for t in ODD_TEXTS],
                                                                                dtype=object))
    want = score(familiar.ragged_ids(tokens, ODD_TEXTS[:3] + [""] + ODD_TEXTS[4:])).numpy()
    np.testing.assert_allclose(got["ood_score"], want, rtol=1e-5, atol=1e-6)
    assert got["unsure"].tolist() == [False, True, True, False, False]
    assert [e.decode() for e in got["error"]] == ["", "", "", "empty or whitespace only", ""]
    status, body, _ = shared_server.serve(root, "bigram").post("/v1/models/sentiment:predict",
                                                                {"instances": ODD_TEXTS})
    assert status == 200, body
    rows = body["predictions"]
    assert rows[3] == {"error": "empty or whitespace only"}
    for i in (0, 1, 2, 4):
        assert rows[i]["unsure"] == bool(got["unsure"][i]) and np.float32(rows[i]["ood_score"]) == got["ood_score"][i]
        np.testing.assert_array_equal(np.float32(rows[i]["probabilities"]), got["probabilities"][i])

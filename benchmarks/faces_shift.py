"""Faces on photos: AT&T people the model never saw, pasted into real photos, through the export.

Each AT&T image (grey 92x112 crop) is placed in a real photo without faces, at a random scale
and position, turned by up to +-15 degrees, with brightness, contrast and blur changed. The
photos come from the scikit-image and scikit-learn wheels, with the astronaut, the cameraman
and the cat left out. Everything goes through the export as a serving client sends it: the
PNG bytes to `embed_photos`, which detects, aligns and embeds inside the graph.

1. The export: preset `att-dlib` (dlib's face-trained ResNet, offline, CC0; nothing fitted to
   AT&T), built in the run, or `$CLASSICS_BENCH_SHIFT_RUN` (a finished faces run, e.g. of
   `att-effnet-wccn`: the offline ImageNet trunk with a head fitted on s1-s24).
2. Its threshold set for FAR 1 % with `classics faces calibrate --photos` on shifted photos of
   the people the run never fitted: s1-s30 for a run that fitted nothing, else s25-s30. That
   FAR is what the new version claims.
3. Shifted photos of s31-s40 (never used before):
   - the share in which exactly one face is found;
   - ROC AUC and EER over every pair;
   - FAR and FRR at the served threshold, where a photo without a found face rejects its
     pairs;
   - the baseline: the same photos through the crop signature `serving_default`, the whole
     photo squashed to the model's input (what a client had before).
   - the same export on the plain AT&T crops of s31-s40 (through `embed_images`, aligned first
     when the model reads aligned faces, as the CLI does): ROC AUC and EER on clean data.
4. Face-free photos (random crops of the same backgrounds): the share answered "no face found".
5. Landmarks: the export's 468 points against the FaceMesh teacher (TFLite, NumPy decoding) on
   the plain AT&T images of s31-s40, NME normalised by the outer eye-corner distance, beside the
   mean-shape baseline (the teacher's mean mesh over s1-s30 in box coordinates, placed in the
   teacher's box of each test face).
6. Speed: `verify_photos` on one pair, against the CLI's path measured in the same run (the
   TFLite teachers in NumPy, Pillow alignment, `verify_images`), with TensorFlow's thread
   pools as `classics serve` sets them by default (apps/common/cli.py: one intra-op thread,
   one inter-op thread per usable core).

    python -m benchmarks.run --only faces_shift [--quick]
"""

import dataclasses
import io
import os
import pathlib
import tempfile
import time

import numpy as np

from benchmarks.common import Row, at_least, at_most, log, median
from benchmarks.faces import att_faces

ROOT = pathlib.Path(__file__).resolve().parent.parent
PRESET = "att-dlib"
BACKGROUNDS = ("skimage-brick", "skimage-coffee", "skimage-coins", "skimage-grass", "skimage-gravel",
               "skimage-hubble_deep_field", "skimage-ihc", "skimage-moon", "skimage-motorcycle_left",
               "skimage-retina", "skimage-rocket", "sklearn-china", "sklearn-flower")
CLAIMED_FAR = 0.01


def backgrounds():
    from PIL import Image

    from apps.common.packages import EMBEDDED, fetch_package_file

    return [Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB") for key in BACKGROUNDS]


def shifted(face, scenes, rng):
    """One AT&T crop (PIL grey) placed in a random scene -> PNG bytes."""
    from PIL import Image, ImageEnhance, ImageFilter

    scene = scenes[rng.integers(len(scenes))]
    short = int(rng.integers(256, 513))
    ratio = short / min(scene.size)
    scene = scene.resize((max(short, round(scene.size[0] * ratio)), max(short, round(scene.size[1] * ratio))))
    face = face.convert("RGB")
    face = ImageEnhance.Brightness(face).enhance(rng.uniform(0.8, 1.2))
    face = ImageEnhance.Contrast(face).enhance(rng.uniform(0.8, 1.2))
    height = int(short * rng.uniform(0.35, 0.7))
    face = face.resize((round(height * face.size[0] / face.size[1]), height), Image.BILINEAR)
    mask = Image.new("L", face.size, 255)
    angle = rng.uniform(-15, 15)
    face, mask = face.rotate(angle, Image.BILINEAR, expand=True), mask.rotate(angle, Image.BILINEAR, expand=True)
    x = int(rng.integers(0, scene.size[0] - face.size[0] + 1))
    y = int(rng.integers(0, scene.size[1] - face.size[1] + 1))
    scene = scene.copy()
    scene.paste(face, (x, y), mask)
    scene = scene.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.2)))
    buffer = io.BytesIO()
    scene.save(buffer, format="PNG")
    return buffer.getvalue()


def face_free(scenes, rng):
    from PIL import Image

    scene = scenes[rng.integers(len(scenes))]
    side = int(rng.integers(96, min(scene.size) + 1))
    x, y = (int(rng.integers(0, s - side + 1)) for s in scene.size)
    crop = scene.crop((x, y, x + side, y + side)).resize((256, 256), Image.BILINEAR)
    buffer = io.BytesIO()
    crop.save(buffer, format="PNG")
    return buffer.getvalue()


def write_people(folder, people, faces_dir, scenes, rng):
    from PIL import Image

    for person in people:
        (folder / person).mkdir(parents=True)
        for path in sorted((faces_dir / person).glob("*.pgm")):
            (folder / person / f"{path.stem}.png").write_bytes(shifted(Image.open(path), scenes, rng))


def landmark_nme(verifier, faces_dir, test_people):
    """(NME of the export's landmarks, NME of the mean shape), both against the teacher."""
    import tensorflow as tf
    from PIL import Image

    from apps.common import face_teachers as ft

    detector, mesh = ft.FaceDetector(), ft.FaceMesh()

    def teacher(path):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        found = ft.label_faces(rgb, detector, mesh)
        return (found[0][0].box, found[0][1].landmarks[:, :2]) if len(found) == 1 else None

    def in_box(points, box):
        return (points - box[:2]) / (box[2:] - box[:2])

    train = [t for t in (teacher(p) for i in range(1, 31) for p in sorted((faces_dir / f"s{i}").glob("*.pgm"))) if t]
    mean_shape = np.mean([in_box(points, box) for box, points in train], axis=0)
    errors, baseline = [], []
    for person in test_people:
        for path in sorted((faces_dir / person).glob("*.pgm")):
            found = teacher(path)
            buffer = io.BytesIO()
            Image.open(path).convert("RGB").save(buffer, format="PNG")
            out = verifier.module.signatures["embed_photos"](photo_bytes=tf.constant([buffer.getvalue()]))
            if found is None or out["error"][0].numpy():
                continue
            box, points = found
            scale = np.linalg.norm(points[263] - points[33])
            ours = out["landmarks"].numpy()[0, :, :2]
            errors.append(np.linalg.norm(ours - points, axis=1).mean() / scale)
            guess = mean_shape * (box[2:] - box[:2]) + box[:2]
            baseline.append(np.linalg.norm(guess - points, axis=1).mean() / scale)
    return float(np.mean(errors)), float(np.mean(baseline))


def run(quick: bool) -> list[Row]:
    import tensorflow as tf

    from apps.common import cli
    from apps.common.config import preset_config
    from apps.common.run import Run
    from apps.faces import commands, metrics
    from apps.faces.task import TASK

    # The thread pools `classics serve` and the faces verbs use by default (before TensorFlow
    # starts; a process that already runs it keeps its own: the timing row says which).
    threads = cli.set_thread_pools()
    faces_dir, scenes, rng = att_faces(), backgrounds(), np.random.default_rng(0)
    work = pathlib.Path(tempfile.mkdtemp(prefix="faces-shift-"))
    started = time.monotonic()
    path = os.environ.get("CLASSICS_BENCH_SHIFT_RUN")
    if path and not quick:
        run_ = Run.open("faces", TASK.Config, path)
    else:
        config = preset_config(TASK.Config, TASK.presets, "tiny" if quick else PRESET)
        config = dataclasses.replace(config, runs_dir=str(ROOT / "runs" / "bench-faces-shift"),
                                     **({"photo_signatures": True} if quick else {"data": f"folder:{faces_dir}"}))
        run_ = TASK.train(config, verbose=0)
    source = TASK.export(run_, root=work / "models")
    log(f"export {source} ({(time.monotonic() - started) / 60:.1f} min with training)")

    # Calibrate on every person the run never fitted: 6 people give ~1,500 impostor pairs, so
    # the 1 % quantile rests on ~15 of them (att-dlib's first run: claimed 0.01, measured 0.023).
    # s25-s30 and the test people are drawn as before (same photos); s1-s24 from their own seed.
    fitted_nothing = run_.config.epochs == 0 and run_.config.head == "none"
    val_people = [f"s{i}" for i in range(25, 31)]
    test_people = [f"s{i}" for i in range(31, 41)][: 3 if quick else 10]
    write_people(work / "val", val_people, faces_dir, scenes, rng)
    write_people(work / "test", test_people, faces_dir, scenes, rng)
    val_name = "s25-s30"
    if fitted_nothing:
        write_people(work / "val", [f"s{i}" for i in range(1, 25)], faces_dir, scenes, np.random.default_rng(1))
        val_name = "s1-s30"
    version, report = commands.calibrate(work / "val", CLAIMED_FAR, model=source, photos=True)
    log(f"calibrated on shifted {val_name} ({report['images']} photos used, {len(report['left_out'])} left out): "
        f"threshold {report['threshold']:.4f}, FAR {report['far']:.4f}, TAR {report['tar']:.4f}")

    verifier = commands.Verifier(version)
    paths, labels, _ = commands.people_images(work / "test")
    embeddings, found, errors = verifier.embed_photos(paths)
    ok = np.array([not e for e in errors])
    i, j = np.triu_indices(len(paths), 1)
    genuine = labels[i] == labels[j]
    distances = ((embeddings[i] - embeddings[j]) ** 2).sum(1)
    both = ok[i] & ok[j]
    threshold = float(verifier.calibration["threshold"])
    accepted = both & (distances <= threshold)
    far, frr = float(accepted[~genuine].mean()), float(1.0 - accepted[genuine].mean())
    auc, eer = metrics.auc(distances[both], genuine[both]), metrics.eer(distances[both], genuine[both])
    squashed = verifier.module.signatures["serving_default"](
        image_bytes=tf.constant([p.read_bytes() for p in paths]))["embeddings"].numpy()
    base_d = ((squashed[i] - squashed[j]) ** 2).sum(1)
    base_auc = metrics.auc(base_d, genuine)
    log(f"test: {ok.mean():.3f} found, AUC {auc:.4f} (squashed {base_auc:.4f}), EER {eer:.4f}, "
        f"FAR {far:.4f} FRR {frr:.4f} at {threshold:.4f}")

    # The same export on the plain AT&T crops of the test people (aligned first when the model
    # reads aligned faces, as its CLI does): the clean-data rows of the same run.
    plain = [path for person in test_people for path in sorted((faces_dir / person).glob("*.pgm"))]
    plain_labels = np.array([path.parent.name for path in plain])
    plain_embeddings = verifier.embed(plain)
    pi, pj = np.triu_indices(len(plain), 1)
    plain_d = ((plain_embeddings[pi] - plain_embeddings[pj]) ** 2).sum(1)
    plain_auc = metrics.auc(plain_d, plain_labels[pi] == plain_labels[pj])
    plain_eer = metrics.eer(plain_d, plain_labels[pi] == plain_labels[pj])
    log(f"plain AT&T crops of the test people: AUC {plain_auc:.4f}, EER {plain_eer:.4f}")

    free = [face_free(scenes, rng) for _ in range(20 if quick else 200)]
    out = verifier.module.signatures["embed_photos"](photo_bytes=tf.constant(free))
    no_face = float(np.mean([e.decode() == "no face found" for e in out["error"].numpy()]))

    nme, nme_mean_shape = landmark_nme(verifier, faces_dir, test_people)
    log(f"landmarks NME vs the teacher: {nme:.4f} (mean shape {nme_mean_shape:.4f})")

    pair = [paths[0].read_bytes()], [paths[1].read_bytes()]
    served = verifier.module.signatures["verify_photos"]
    served(photo_bytes_1=tf.constant(pair[0]), photo_bytes_2=tf.constant(pair[1]))  # warm
    ours, cli = [], []
    for _ in range(5 if quick else 30):
        t0 = time.perf_counter()
        served(photo_bytes_1=tf.constant(pair[0]), photo_bytes_2=tf.constant(pair[1]))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        verifier.verify(paths[0], paths[1], align=True)
        cli.append(time.perf_counter() - t0)

    n_test = len(paths)
    preset = run_.config.preset
    return [
        Row(f"faces AT&T s31-s40 plain crops ({preset}): ROC AUC", plain_auc, "", target=">= 0.995",
            ok=at_least(plain_auc, 0.995), note=f"{len(plain)} images, the same export through embed_images"
            f"{', aligned as the model reads them' if verifier.aligns else ''}"),
        Row(f"faces AT&T s31-s40 plain crops ({preset}): EER", plain_eer, "", target="<= 0.03",
            ok=at_most(plain_eer, 0.03)),
        Row("faces on photos: s31-s40 with exactly one face found", ok.mean(), "", target=">= 0.99",
            ok=at_least(ok.mean(), 0.99), note=f"{n_test} shifted photos; errors: "
            f"{sorted({e for e in errors if e})[:3]}"),
        Row("faces on photos: ROC AUC through embed_photos", auc, "", reference=base_auc, target=">= 0.98",
            ok=at_least(auc, 0.98), note="reference: the same photos squashed through serving_default"),
        Row("faces on photos: EER", eer, "", target="info", ok=None),
        Row("faces on photos: FAR at the served threshold vs claimed", far, "", reference=CLAIMED_FAR,
            target="<= 2x claimed", ok=at_most(far / CLAIMED_FAR, 2.0),
            note=f"threshold {threshold:.4f} from calibrate --photos on shifted {val_name} "
                 f"(FAR there {report['far']:.4f}, TAR {report['tar']:.4f})"),
        Row("faces on photos: FRR at the served threshold", frr, "", target="<= 0.10", ok=at_most(frr, 0.10),
            note="a photo without one found face rejects its pairs"),
        Row("faces on photos: face-free photos answered no face", no_face, "", target=">= 0.95",
            ok=at_least(no_face, 0.95), note=f"{len(free)} random crops of the backgrounds"),
        Row("faces: landmark NME vs the FaceMesh teacher (s31-s40)", nme, "", reference=nme_mean_shape,
            target="<= 0.05", ok=at_most(nme, 0.05),
            note="reference: the mean-shape baseline; normalised by the outer eye-corner distance"),
        Row("faces on photos: verify_photos per pair (batch 1)", median(ours) * 1e3, "ms",
            reference=median(cli) * 1e3, reference_unit="ms", target="<= 50 ms", ok=median(ours) <= 0.05,
            note="reference: the CLI path (TFLite teachers in NumPy, Pillow alignment, verify_images); "
                 f"TensorFlow threads intra-op {threads[0]}, inter-op {threads[1]} (0: TensorFlow's "
                 "default), as `classics serve` sets them by default"),
    ]

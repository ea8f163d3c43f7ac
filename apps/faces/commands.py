"""The faces app's own verbs: enroll, identify, verify and calibrate (on an export, as a deployment
uses it)."""

import json
import pathlib
import sys

import numpy as np

from apps.common import cli, sources
from apps.common import export as export_lib
from apps.common import images as images_lib
from apps.common.errors import ClassicsError, ConfigError, DataError
from apps.common.face_graph import FacePipeline
from apps.common.face_teachers import FaceDetector, FaceMesh
from apps.faces import align as align_lib
from apps.faces import gallery as gallery_lib
from apps.faces import metrics, plots
from apps.faces.crop import crop_face
from apps.faces.training import CALIBRATION, pair_distances

NAME = "faces"
DEFAULT_GALLERY = "faces_gallery.json"


# ---------------------------------------------------------------- the exported model
class Verifier:
    """An export loaded for the CLI: images in, the served signatures' numbers out."""

    def __init__(self, version_dir):
        import tensorflow as tf

        self.version_dir = pathlib.Path(version_dir)
        try:
            self.module = tf.saved_model.load(str(self.version_dir))
        except (OSError, ValueError) as exc:
            raise DataError(f"{version_dir}: not a loadable SavedModel ({exc})") from None
        self.config = export_lib.read_extra(self.version_dir, "config.json")
        # A model fitted on aligned faces (align_faces, e.g. att-dlib's chips) reads nothing else:
        # the CLI aligns its images unless told to --crop.
        self.aligns = bool(self.config.get("align_faces", False))
        self.calibration = export_lib.read_extra(self.version_dir, "calibration.json")
        spec = self.module.signatures["embed_images"].structured_input_signature[1]["images"]
        self.image_size, self.channels = int(spec.shape[1]), int(spec.shape[3])
        self._teachers = None

    def teachers(self):
        """BlazeFace and FaceMesh (TensorFlow Lite), loaded on the first aligned image."""
        if self._teachers is None:

            self._teachers = (FaceDetector(), FaceMesh())
        return self._teachers

    def pixels(self, path, crop=False, align=False):
        """An image file -> uint8 (S, S, C) exactly as the serving decoder would make it
        (PNG/JPEG/GIF/BMP/WebP); other formats (PGM, TIFF) are read with Pillow. `crop`: the
        largest Haar-cascade face; `align`: the one face, landmarked and aligned
        (apps/faces/align.py) - done here, outside the export; the default for a model that
        reads aligned faces (`self.aligns`)."""
        if align or (self.aligns and not crop):
            rgb = images_lib.read_image_file(path, channels=3, allow_gray_to_rgb=True)
            frame = align_lib.frame_for(self.config.get("backbone", ""))
            face = align_lib.align_face(rgb, *self.teachers(), name=str(path), frame=frame)
            return images_lib.conform_array(face, channels=self.channels, image_size=self.image_size)
        if crop:
            rgb = images_lib.read_image_file(path, channels=3, allow_gray_to_rgb=True)
            return images_lib.conform_array(crop_face(rgb, str(path)), channels=self.channels,
                                            image_size=self.image_size)
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if head.startswith((b"P2", b"P5", b"P3", b"P6", b"II*", b"MM\0*")):  # PGM/PPM/TIFF
            return images_lib.read_image_file(path, channels=self.channels, image_size=self.image_size,
                                              allow_gray_to_rgb=True)
        return images_lib.decode_for_model(path, self.channels, self.image_size, allow_gray_to_rgb=True)

    def embed(self, paths, crop=False, align=False, batch_size=64):
        parts = []
        for start in range(0, len(paths), batch_size):
            batch = np.stack([self.pixels(p, crop, align) for p in paths[start:start + batch_size]])
            parts.append(self.module.signatures["embed_images"](images=batch)["embeddings"].numpy())
        return np.concatenate(parts)

    def embed_photos(self, paths, batch_size=32):
        """Photos through the export's own `embed_photos` (detection and alignment inside)
        -> (embeddings (N, D), faces found (N,), errors (N,) "" when fine)."""
        import tensorflow as tf

        if "embed_photos" not in self.module.signatures:
            raise ConfigError(f"{self.version_dir}: this export has no photo signatures (it was exported "
                              "with photo_signatures=false): use it without --photos, or export a run "
                              "with --set photo_signatures=true")
        parts = []
        for start in range(0, len(paths), batch_size):
            blobs = []
            for path in paths[start:start + batch_size]:
                try:
                    blobs.append(pathlib.Path(path).read_bytes())
                except OSError as exc:
                    raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
            out = self.module.signatures["embed_photos"](photo_bytes=tf.constant(blobs))
            parts.append((out["embeddings"].numpy(), out["faces"].numpy(),
                          [e.decode() for e in out["error"].numpy()]))
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                sum((p[2] for p in parts), []))

    def verify(self, path_1, path_2, crop=False, align=False):
        out = self.module.signatures["verify_images"](
            images_1=self.pixels(path_1, crop, align)[None], images_2=self.pixels(path_2, crop, align)[None])
        return {k: v.numpy()[0].item() for k, v in out.items()}


def resolve_model(model=None, root="saved_models") -> pathlib.Path:
    """--model DIR (a version directory, or an app directory: its newest version) or the
    newest export under <root>/faces."""
    path = pathlib.Path(model) if model else pathlib.Path(root) / NAME
    if (path / "saved_model.pb").exists():
        return path
    if path.is_dir() and export_lib.versions(path):
        return export_lib.latest_version_dir(path)
    raise ClassicsError(f"{path}: no faces export (run `classics faces export` first, or pass "
                        "--model saved_models/faces/<version>)")


# ---------------------------------------------------------------- enrolment
def enroll(name, images, model=None, gallery_path=DEFAULT_GALLERY, replace=False, crop=False,
           root="saved_models", align=False):
    verifier = Verifier(resolve_model(model, root))
    identity = gallery_lib.model_identity(verifier.version_dir)
    gallery = gallery_lib.load(gallery_path, identity)
    embeddings = verifier.embed(images, crop, align)  # every image is read before the file changes
    gallery_lib.add(gallery, name, embeddings, images, replace=replace, path=gallery_path)
    gallery["model"] = identity
    gallery_lib.save(gallery_path, gallery)
    return len(gallery["people"])


def identify(image, model=None, gallery_path=DEFAULT_GALLERY, crop=False, root="saved_models", align=False):
    """-> (name or "unknown", distance to the nearest person, threshold, nearest name)."""
    verifier = Verifier(resolve_model(model, root))
    if not pathlib.Path(gallery_path).exists():
        raise DataError(f"{gallery_path}: no gallery; enrol someone first "
                        "(classics faces enroll NAME IMAGE...)")
    gallery = gallery_lib.load(gallery_path, gallery_lib.model_identity(verifier.version_dir))
    names, centres = gallery_lib.centres(gallery, gallery_path)
    emb = verifier.embed([image], crop, align)[0]
    d = ((centres - emb[None]) ** 2).sum(1)
    k = int(d.argmin())
    threshold = float(verifier.calibration["threshold"])
    return (names[k] if d[k] <= threshold else "unknown"), float(d[k]), threshold, names[k]


# ---------------------------------------------------------------- recalibration
def people_images(folder):
    """FOLDER/<person>/<image files> -> (paths, labels, names); at least two people and one
    person with two images (a genuine pair)."""
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise DataError(f"{folder}: no such directory (expected {folder}/<person>/<image files>)")
    paths, labels, names = [], [], []
    for person in sources.subdirs(root):
        files = sources.image_files(person)
        if files:
            paths += files
            labels += [len(names)] * len(files)
            names.append(person.name)
    counts = np.bincount(labels) if labels else np.zeros(0, int)
    if len(names) < 2 or counts.max() < 2:
        raise DataError(f"{folder}: needs >= 2 people and one of them with >= 2 images "
                        f"(found {len(names)} people, {len(paths)} images in {folder}/<person>/)")
    return paths, np.asarray(labels), tuple(names)


def calibrate(folder, far=0.01, model=None, root="saved_models", crop=False, align=False, photos=False):
    """A new export version whose `verify` threshold accepts at most `far` of the impostor
    pairs of FOLDER's people (and whose learned similarity is refitted on them); the
    embeddings are the export's own: of the images as given (or `crop`ped / `align`ed at the
    CLI), or with `photos` through its `embed_photos` signature, as a client sending photos
    is served (photos without exactly one face are left out and counted).
    -> (new version directory, report)."""
    if not 0.0 < far < 1.0:
        raise ConfigError(f"--far {far}: expected a rate between 0 and 1 (e.g. 0.01 for 1 %)")
    verifier = Verifier(resolve_model(model, root))
    paths, labels, names = people_images(folder)
    skipped = []
    if photos:
        embeddings, _, errors = verifier.embed_photos(paths)
        skipped = [f"{path}: {error}" for path, error in zip(paths, errors) if error]
        kept = np.array([not error for error in errors])
        if kept.sum() < 2 or len(set(labels[kept])) < 2:
            raise DataError(f"{folder}: fewer than two people with a usable photo "
                            f"({len(skipped)} of {len(paths)} left out, e.g. {skipped[:1]})")
        embeddings, labels, paths = embeddings[kept], labels[kept], [p for p, k in zip(paths, kept) if k]
    else:
        embeddings = verifier.embed(paths, crop, align)
    distances, genuine, features = pair_distances(embeddings, labels)
    threshold = metrics.threshold_at_far(distances, genuine, far)
    w, b = metrics.fit_logistic(features, genuine)
    before = metrics.accuracy_at(distances, genuine, float(verifier.calibration["threshold"]))
    after = metrics.accuracy_at(distances, genuine, threshold)
    impostors = int((~genuine).sum())
    report = {
        "folder": str(folder), "people": int(len(np.unique(labels))), "images": len(paths),
        "genuine_pairs": int(genuine.sum()), "impostor_pairs": impostors,
        "preprocessing": ("embed_photos" if photos else "align" if align or (verifier.aligns and not crop)
                          else "crop" if crop else "none"),
        "left_out": skipped,
        "far_target": far, "smallest_measurable_far": 1.0 / impostors,
        "threshold": threshold, "far": after["far"], "tar": after["tar"],
        "previous_threshold": float(verifier.calibration["threshold"]),
        "previous_far": before["far"], "previous_tar": before["tar"],
        "roc_auc": metrics.auc(distances, genuine), "eer": metrics.eer(distances, genuine),
        "from_version": str(verifier.version_dir),
    }
    calibration = {**verifier.calibration, "threshold": threshold, "target_far": far,
                   "calibrated_on": f"{folder}: {report['people']} people, {len(paths)} images",
                   "logistic": {"w": [float(v) for v in w], "b": b}, "recalibration": report}
    module = verifier.module
    module.threshold.assign(threshold)
    module.w.assign(w)
    module.b.assign(b)
    extra = verifier.version_dir / "assets.extra"
    kept = {p.name: p.read_bytes() for p in extra.iterdir() if p.is_file() and p.name != CALIBRATION}
    version = export_lib.write_saved_model(
        verifier.version_dir.parent.name, module, dict(module.signatures),
        root=verifier.version_dir.parent.parent, extra_assets={**kept, CALIBRATION: calibration})
    return version, report


# ---------------------------------------------------------------- landmarks
def landmarks(photos, out_dir=None):
    """Each photo through the graph pipeline the export uses (BlazeFace, FaceMesh, alignment):
    -> [{"photo", "faces", "box", "points" (named), "landmarks" (468 x, y, z)}], and with
    `out_dir` a PNG per photo: the photo with the box and mesh drawn, beside the aligned crop."""
    import tensorflow as tf

    pipeline = FacePipeline(align_lib.CROP_SIZE, align_lib.CANONICAL)
    run = tf.function(pipeline, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    answers = []
    for path in photos:
        image = images_lib.read_image_file(path, channels=3, allow_gray_to_rgb=True)
        out = {k: v.numpy() for k, v in run(tf.constant(image)).items()}
        answer = {"photo": str(path), "faces": int(out["faces"])}
        if answer["faces"] == 1:
            points = align_lib.mesh_points(out["landmarks"])
            answer.update(box=[round(float(v), 2) for v in out["box"]],
                          points={name: [round(float(v), 2) for v in xy] for name, xy in zip(
                              ("right_eye", "left_eye", "mouth_right", "mouth_left"), points)},
                          landmarks=np.round(out["landmarks"], 2).tolist())
            if out_dir is not None:
                answer["overlay"] = str(plots.landmarks_png(image, out["box"], out["landmarks"], out["crop"],
                                                            pathlib.Path(out_dir) / f"{pathlib.Path(path).stem}.png"))
        answers.append(answer)
    return answers


# ---------------------------------------------------------------- CLI
def _cmd_enroll(args):
    cli.apply_thread_arguments(args)
    count = enroll(args.name, args.images, args.model, args.gallery, args.replace, args.crop,
                   args.model_root, args.align)
    print(f"enrolled {args.name!r} ({len(args.images)} image(s)) in {args.gallery}: {count} people")


def _cmd_identify(args):
    cli.apply_thread_arguments(args)
    for image in args.images:
        name, distance, threshold, nearest = identify(image, args.model, args.gallery, args.crop,
                                                      args.model_root, args.align)
        extra = "" if name == nearest else f" (nearest {nearest})"
        if args.json:
            print(json.dumps({"image": image, "name": name, "nearest": nearest,
                              "distance": distance, "threshold": threshold}))
        else:
            print(f"{image}\t{name}\tdistance {distance:.4f}\tthreshold {threshold:.4f}{extra}")


def _cmd_verify(args):
    cli.apply_thread_arguments(args)
    verifier = Verifier(resolve_model(args.model, args.model_root))
    out = verifier.verify(args.image1, args.image2, args.crop, args.align)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"distance {out['distance']:.4f}  threshold {out['threshold']:.4f}  "
              f"{'same person' if out['same'] else 'different people'}  "
              f"(learned similarity p={out['probability']:.3f})")
    return 0


def _cmd_calibrate(args):
    if args.photos and (args.crop or args.align):
        raise ConfigError("--photos: the export detects and aligns the faces itself; drop --crop/--align")
    cli.apply_thread_arguments(args)
    version, report = calibrate(args.pairs, args.far, args.model, args.model_root, args.crop, args.align,
                                args.photos)
    if args.json:
        print(json.dumps({"version": str(version), **report}))
        return 0
    for line in report["left_out"]:
        print(f"left out: {line}")
    print(f"{report['people']} people, {report['images']} images: {report['genuine_pairs']} genuine and "
          f"{report['impostor_pairs']} impostor pairs; ROC AUC {report['roc_auc']:.4f}, EER {report['eer']:.2%}")
    print(f"served threshold {report['previous_threshold']:.4f}: FAR {report['previous_far']:.2%}, "
          f"TAR {report['previous_tar']:.2%} on these people")
    print(f"new threshold {report['threshold']:.4f} (FAR <= {report['far_target']:.2%}): FAR {report['far']:.2%}, "
          f"TAR {report['tar']:.2%}")
    if report["far_target"] < report["smallest_measurable_far"]:
        print(f"note: {report['impostor_pairs']} impostor pairs measure a FAR no finer than "
              f"{report['smallest_measurable_far']:.2%}; the threshold accepts none of them. "
              "More people give a finer FAR.")
    print(f"wrote {version}")
    return 0


def _cmd_landmarks(args):
    problems = 0
    for answer in landmarks(args.photos, args.out):
        if answer["faces"] != 1:
            problems += 1
            found = "no face found" if answer["faces"] == 0 else f"{answer['faces']} faces found"
            print(f"error: {answer['photo']}: {found}", file=sys.stderr)
        print(json.dumps(answer if args.all else {k: v for k, v in answer.items() if k != "landmarks"}))
    return 2 if problems else 0


def _model_arguments(p):
    p.add_argument("--model", metavar="DIR", help="an export version directory (default: the newest)")
    cli.add_model_root_argument(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--crop", action="store_true",
                     help="cut the largest face out first (OpenCV Haar cascade; for photos, not crops)")
    how.add_argument("--align", action="store_true",
                     help="detect the one face, find its landmarks and align it to the frame its model reads first "
                          "(BlazeFace + FaceMesh from the pinned mediapipe wheel); the default for a model "
                          "fitted on aligned faces (align_faces, e.g. --preset att-dlib)")
    cli.add_thread_arguments(p)


def add_commands(sub) -> None:
    p = sub.add_parser("enroll", help="store a person's embeddings in the gallery")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--gallery", default=DEFAULT_GALLERY, metavar="FILE")
    p.add_argument("--replace", action="store_true", help="replace a person already enrolled")
    _model_arguments(p)
    p.set_defaults(func=_cmd_enroll)

    p = sub.add_parser("identify", help="the enrolled name nearest to an image, or 'unknown'")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--gallery", default=DEFAULT_GALLERY, metavar="FILE")
    p.add_argument("--json", action="store_true")
    _model_arguments(p)
    p.set_defaults(func=_cmd_identify)

    p = sub.add_parser("verify", help="distance, threshold and verdict for two images")
    p.add_argument("image1")
    p.add_argument("image2")
    p.add_argument("--json", action="store_true")
    _model_arguments(p)
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("landmarks", help="the face's box, eye and mouth points (and 468 mesh points) of "
                                         "photos, as the export finds them; PNG overlays with --out")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--out", metavar="DIR",
                   help="write PHOTO-stem.png: the photo with box and mesh, and the aligned crop")
    p.add_argument("--all", action="store_true", help="print all 468 landmarks too")
    p.set_defaults(func=_cmd_landmarks)

    p = sub.add_parser("calibrate", help="set an export's threshold for a false-accept rate on your own "
                                         "labelled people; writes a new export version")
    p.add_argument("--pairs", required=True, metavar="FOLDER",
                   help="FOLDER/<person>/<image files>: every pair of its images is a genuine or impostor pair")
    p.add_argument("--far", type=float, default=0.01,
                   help="the false-accept rate the threshold may reach on those pairs (default 0.01)")
    p.add_argument("--photos", action="store_true",
                   help="embed through the export's embed_photos signature (it detects and aligns), "
                        "as clients sending photos are served")
    p.add_argument("--json", action="store_true")
    _model_arguments(p)
    p.set_defaults(func=_cmd_calibrate)



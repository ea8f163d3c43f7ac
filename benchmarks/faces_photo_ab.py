"""A/B timing of faces exports' `verify_photos` (issue 16: <= 50 ms per photo pair), interleaved.

Twelve AT&T faces of s31-s33 pasted into scikit-image photos (faces_shift's `shifted`, seed 0)
go through each export's `embed_photos` (the answers are compared with the first export's:
embeddings, faces, boxes, landmarks, errors); then the first two photos with one face found are
verified at batch 1, the exports called in turn, median of N calls after 3 warm-up calls each.

    taskset -c 0 python -m benchmarks.faces_photo_ab EXPORT_DIR [EXPORT_DIR ...] [--calls N]
"""

import argparse
import time

import numpy as np

from benchmarks.faces import att_faces
from benchmarks.faces_shift import backgrounds, shifted


def main(argv=None):
    import tensorflow as tf
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="+")
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    from apps.common import cli

    print("TensorFlow threads (intra-op, inter-op):", cli.set_thread_pools())  # as `classics serve` sets them
    rng, faces, scenes = np.random.default_rng(0), att_faces(), backgrounds()
    photos = [shifted(Image.open(faces / f"s{31 + k // 4}" / f"{1 + k % 4}.pgm"), scenes, rng) for k in range(12)]
    models = [tf.saved_model.load(path) for path in args.exports]
    answers = [{k: v.numpy() for k, v in m.signatures["embed_photos"](photo_bytes=tf.constant(photos)).items()}
               for m in models]
    print("faces found:", answers[0]["faces"].tolist())
    for path, other in zip(args.exports[1:], answers[1:]):
        for key, value in answers[0].items():
            same = (f"max |diff| {np.abs(value - other[key]).max():.2g}" if value.dtype.kind == "f"
                    else f"equal {bool((value == other[key]).all())}")
            print(f"{path}: embed_photos {key}: {same}")
    one = [i for i, n in enumerate(answers[0]["faces"]) if n == 1][:2]
    pair = {"photo_bytes_1": tf.constant([photos[one[0]]]), "photo_bytes_2": tf.constant([photos[one[1]]])}
    for path, m in zip(args.exports, models):
        for _ in range(3):
            out = m.signatures["verify_photos"](**pair)
        print(f"{path}: distance {float(out['distance'][0]):.6f}, same {bool(out['same'][0])}")
    times = [[] for _ in models]
    for _ in range(args.calls):
        for spent, m in zip(times, models):
            start = time.perf_counter()
            m.signatures["verify_photos"](**pair)
            spent.append(time.perf_counter() - start)
    for path, spent in zip(args.exports, times):
        print(f"{path}: verify_photos batch 1: median {np.median(spent) * 1e3:.1f} ms, "
              f"min {np.min(spent) * 1e3:.1f} ms ({args.calls} calls)")


if __name__ == "__main__":
    main()

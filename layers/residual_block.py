"""ResNet v1 residual block (basic and bottleneck), channels-last."""

import keras

BLOCK_TYPES = ("basic", "bottleneck")
SHORTCUTS = ("auto", "projection", "identity")


def _check_positive_int(name, value):
    # bool is an int subclass; `filters=True` is a bug, not 1 filter.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, received: {value!r}")
    return value


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(repr, choices))}, received: {value!r}")
    return value


def _get(name, value, getter):
    """Resolve an initializer/regularizer/activation identifier, naming the argument on error."""
    try:
        return getter(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"`{name}` could not be interpreted, received: {value!r} ({error})") from None


def _check_strides(value):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in value)
    ):
        raise ValueError(f"`strides` must be a positive int or a pair of positive ints, received: {value!r}")
    return tuple(value)


def _strided_length(length, stride):
    # "same" padding (and a 1x1 "valid" conv) keeps ceil(length / stride) positions.
    return None if length is None else -(-length // stride)


@keras.saving.register_keras_serializable(package="classics")
class ResidualBlock(keras.layers.Layer):
    """Residual block of ResNet v1 (post-activation), as `keras.applications.ResNet50` builds it.

    Main path (every conv is followed by BatchNormalization, every BN but the last by the
    activation):

    - "basic" (ResNet-18/34): 3x3 conv (stride) -> 3x3 conv, both `filters` wide.
    - "bottleneck" (ResNet-50/101/152): 1x1 conv (stride) -> 3x3 conv, both `filters` wide,
      -> 1x1 conv to `filters * expansion` channels. The stride sits on the first 1x1 conv,
      as in Keras's ResNet50 (the paper's Caffe model); torchvision's "v1.5" puts it on the 3x3.

    Then `activation(main + shortcut)`. 3x3 convs use "same" padding, so the spatial size
    becomes `ceil(size / stride)` on both paths.

    With `use_bias=True, block_type="bottleneck"` the weights (shapes, count, trainable and
    non-trainable) are exactly those of a `keras.applications.ResNet50(weights=None)` block.

    Args:
        filters: Width of the convolutions. Output channels: `filters` for "basic",
            `filters * expansion` for "bottleneck".
        block_type: "basic" or "bottleneck".
        strides: Stride of the block's first conv and of the projection (int or pair).
        shortcut: "auto" projects (1x1 conv + BN) when the stride is not 1 or the channel
            count changes and is the identity otherwise; "projection" always projects;
            "identity" never does, and `build` raises ValueError if the shapes differ.
        expansion: Output channels per `filters` of a bottleneck block; ignored by "basic".
        use_bias: Whether the convolutions have a bias (redundant before BN; Keras's
            ResNet50 has one).
        kernel_initializer: Initializer of every conv kernel. A seeded initializer object
            is shared, so same-shaped kernels would start equal: prefer a name or an unseeded one.
        kernel_regularizer: Regularizer of every conv kernel (e.g. `keras.regularizers.L2`).
        bn_momentum: Momentum of the BN moving statistics.
        bn_epsilon: Epsilon of BN (Keras's ResNet50 uses 1.001e-5).
        activation: Nonlinearity after the inner BNs and after the addition.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels known.

    Output shape:
        `(batch, ceil(height / sh), ceil(width / sw), out_channels)`.

    Reference:
        He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
        (arXiv:1512.03385).
    """

    def __init__(
        self,
        filters,
        block_type="basic",
        strides=1,
        shortcut="auto",
        expansion=4,
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        bn_momentum=0.99,
        bn_epsilon=1.001e-5,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _check_positive_int("filters", filters)
        self.block_type = _check_choice("block_type", block_type, BLOCK_TYPES)
        self.strides = _check_strides(strides)
        self.shortcut = _check_choice("shortcut", shortcut, SHORTCUTS)
        self.expansion = _check_positive_int("expansion", expansion)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be a bool, received: {use_bias!r}")
        self.use_bias = use_bias
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)
        self.kernel_regularizer = _get("kernel_regularizer", kernel_regularizer, keras.regularizers.get)
        if (
            isinstance(bn_momentum, bool)
            or not isinstance(bn_momentum, (int, float))
            or not (0.0 <= bn_momentum < 1.0)
        ):
            raise ValueError(f"`bn_momentum` must be in [0, 1), received: {bn_momentum!r}")
        self.bn_momentum = float(bn_momentum)
        if isinstance(bn_epsilon, bool) or not isinstance(bn_epsilon, (int, float)) or not (bn_epsilon > 0.0):
            raise ValueError(f"`bn_epsilon` must be a positive float, received: {bn_epsilon!r}")
        self.bn_epsilon = float(bn_epsilon)
        self.activation = _get("activation", activation, keras.activations.get)

        self.output_channels = filters * expansion if block_type == "bottleneck" else filters
        if block_type == "bottleneck":
            # (kernel size, width, stride) of 1x1 (stride) -> 3x3 -> 1x1 (expand).
            specs = [(1, filters, self.strides), (3, filters, 1), (1, self.output_channels, 1)]
        else:
            specs = [(3, filters, self.strides), (3, filters, 1)]
        # Parallel lists: convs[i] is followed by norms[i]; Keras tracks layers in lists.
        self.convs = [
            self._conv(width, size, stride, name=f"conv_{i + 1}")
            for i, (size, width, stride) in enumerate(specs)
        ]
        self.norms = [self._norm(name=f"bn_{i + 1}") for i in range(len(specs))]
        # "auto" only knows the input channels in `build`, so its projection is created
        # here and left unbuilt (no weights) when `build` picks the identity.
        if shortcut == "identity":
            self.shortcut_conv = None
            self.shortcut_norm = None
        else:
            self.shortcut_conv = self._conv(self.output_channels, 1, self.strides, name="shortcut_conv")
            self.shortcut_norm = self._norm(name="shortcut_bn")
        self.use_projection = shortcut == "projection"

    def _conv(self, filters, kernel_size, strides, name):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            # 1x1 convs: "valid" == "same" (no padding either way); Keras's ResNet50 uses "valid".
            padding="same" if kernel_size > 1 else "valid",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _norm(self, name):
        return keras.layers.BatchNormalization(
            axis=-1,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "ResidualBlock expects inputs of shape (batch, height, width, channels) with "
                f"known channels, received input_shape={input_shape}"
            )
        shape = input_shape
        for conv, norm in zip(self.convs, self.norms, strict=True):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
        output_shape = self.compute_output_shape(input_shape)

        shapes_match = self.strides == (1, 1) and input_shape[-1] == self.output_channels
        if self.shortcut == "identity" and not shapes_match:
            raise ValueError(
                "ResidualBlock with shortcut='identity' needs the input and output shapes to "
                f"match, but input shape is {input_shape} and output shape is {output_shape} "
                f"(strides={self.strides}); use shortcut='auto' or 'projection'"
            )
        self.use_projection = self.shortcut == "projection" or (self.shortcut == "auto" and not shapes_match)
        if self.use_projection:
            self.shortcut_conv.build(input_shape)
            self.shortcut_norm.build(self.shortcut_conv.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x), training=training)
            # The last BN stays linear: the activation comes after the addition.
            if i < last:
                x = self.activation(x)
        if self.use_projection:
            shortcut = self.shortcut_norm(self.shortcut_conv(inputs), training=training)
        else:
            shortcut = inputs
        return self.activation(x + shortcut)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (
            batch,
            _strided_length(height, self.strides[0]),
            _strided_length(width, self.strides[1]),
            self.output_channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "block_type": self.block_type,
                "strides": self.strides,
                "shortcut": self.shortcut,
                "expansion": self.expansion,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config

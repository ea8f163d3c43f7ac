"""GoogLeNet Inception module (v1, "with dimension reductions"), channels-last."""

import keras

from layers.residual_block import _check_positive_int, _get

# Order of the filter arguments; also the order of the conv units built below.
FILTER_ARGS = (
    "filters_1x1",
    "filters_3x3_reduce",
    "filters_3x3",
    "filters_5x5_reduce",
    "filters_5x5",
    "filters_pool_proj",
)


@keras.saving.register_keras_serializable(package="classics")
class InceptionModule(keras.layers.Layer):
    """Inception module of GoogLeNet: four parallel branches concatenated on channels.

    Branches (every conv is followed by the activation, BN in between if enabled):

    1. 1x1 conv, `filters_1x1`.
    2. 1x1 conv, `filters_3x3_reduce` -> 3x3 conv, `filters_3x3`.
    3. 1x1 conv, `filters_5x5_reduce` -> 5x5 conv, `filters_5x5`.
    4. 3x3 max-pool (stride 1, "same") -> 1x1 conv, `filters_pool_proj`.

    All convs have stride 1 and "same" padding, so height and width are kept.

    Args:
        filters_1x1, filters_3x3_reduce, filters_3x3, filters_5x5_reduce, filters_5x5,
        filters_pool_proj: Positive ints, the widths of the convs above.
        use_batch_norm: False: conv (with bias) -> activation, as in GoogLeNet.
            True: conv (no bias, BN has the shift) -> BatchNormalization -> activation.
        bn_momentum: Momentum of the moving statistics of each BatchNormalization.
        kernel_initializer: Initializer of every conv kernel. A seeded initializer object
            is shared, so same-shaped kernels would start equal: prefer a name or an unseeded one.
        kernel_regularizer: Regularizer of every conv kernel.
        activation: Nonlinearity after every conv (or BN).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Input shape:
        `(batch, height, width, channels)`, channels known.

    Output shape:
        `(batch, height, width, filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj)`.

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842),
        Figure 2(b) and Table 1.
    """

    def __init__(
        self,
        filters_1x1,
        filters_3x3_reduce,
        filters_3x3,
        filters_5x5_reduce,
        filters_5x5,
        filters_pool_proj,
        use_batch_norm=False,
        bn_momentum=0.99,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters_1x1 = _check_positive_int("filters_1x1", filters_1x1)
        self.filters_3x3_reduce = _check_positive_int("filters_3x3_reduce", filters_3x3_reduce)
        self.filters_3x3 = _check_positive_int("filters_3x3", filters_3x3)
        self.filters_5x5_reduce = _check_positive_int("filters_5x5_reduce", filters_5x5_reduce)
        self.filters_5x5 = _check_positive_int("filters_5x5", filters_5x5)
        self.filters_pool_proj = _check_positive_int("filters_pool_proj", filters_pool_proj)
        if not isinstance(use_batch_norm, bool):
            raise ValueError(f"`use_batch_norm` must be a bool, received: {use_batch_norm!r}")
        self.use_batch_norm = use_batch_norm
        if not 0.0 <= float(bn_momentum) < 1.0:
            raise ValueError(f"`bn_momentum` must be in [0, 1), received: {bn_momentum!r}")
        self.bn_momentum = float(bn_momentum)
        self.kernel_initializer = _get("kernel_initializer", kernel_initializer, keras.initializers.get)
        self.kernel_regularizer = _get("kernel_regularizer", kernel_regularizer, keras.regularizers.get)
        self.activation = _get("activation", activation, keras.activations.get)

        self.output_channels = filters_1x1 + filters_3x3 + filters_5x5 + filters_pool_proj
        self.branch1_conv, self.branch1_norm = self._unit(filters_1x1, 1, "branch1_1x1")
        self.branch2_reduce, self.branch2_reduce_norm = self._unit(
            filters_3x3_reduce, 1, "branch2_1x1_reduce"
        )
        self.branch2_conv, self.branch2_norm = self._unit(filters_3x3, 3, "branch2_3x3")
        self.branch3_reduce, self.branch3_reduce_norm = self._unit(
            filters_5x5_reduce, 1, "branch3_1x1_reduce"
        )
        self.branch3_conv, self.branch3_norm = self._unit(filters_5x5, 5, "branch3_5x5")
        self.branch4_pool = keras.layers.MaxPooling2D(
            pool_size=3, strides=1, padding="same", dtype=self.dtype_policy, name="branch4_pool"
        )
        self.branch4_proj, self.branch4_norm = self._unit(filters_pool_proj, 1, "branch4_1x1_proj")

    def _unit(self, filters, kernel_size, name):
        """A conv and its BatchNormalization (None without batch norm)."""
        conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=not self.use_batch_norm,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )
        norm = (
            keras.layers.BatchNormalization(
                axis=-1, momentum=self.bn_momentum, dtype=self.dtype_policy, name=f"{name}_bn"
            )
            if self.use_batch_norm
            else None
        )
        return conv, norm

    def _branches(self):
        """Per branch, its steps as (layer, norm or None, apply the activation?)."""
        return [
            [(self.branch1_conv, self.branch1_norm, True)],
            [
                (self.branch2_reduce, self.branch2_reduce_norm, True),
                (self.branch2_conv, self.branch2_norm, True),
            ],
            [
                (self.branch3_reduce, self.branch3_reduce_norm, True),
                (self.branch3_conv, self.branch3_norm, True),
            ],
            # Pooling is not followed by a nonlinearity; its 1x1 projection is.
            [(self.branch4_pool, None, False), (self.branch4_proj, self.branch4_norm, True)],
        ]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "InceptionModule expects inputs of shape (batch, height, width, channels) with "
                f"known channels, received input_shape={input_shape}"
            )
        for chain in self._branches():
            shape = input_shape
            for layer, norm, _ in chain:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
                if norm is not None:
                    norm.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        outputs = []
        for chain in self._branches():
            x = inputs
            for layer, norm, activate in chain:
                x = layer(x)
                if norm is not None:
                    x = norm(x, training=training)
                if activate:
                    x = self.activation(x)
            outputs.append(x)
        # Branch order 1x1, 3x3, 5x5, pool: channels [0, f1), [f1, f1 + f3), ...
        return keras.ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in FILTER_ARGS})
        config.update(
            {
                "use_batch_norm": self.use_batch_norm,
                "bn_momentum": self.bn_momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config

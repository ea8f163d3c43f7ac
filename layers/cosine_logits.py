"""Cosine logits: the classifier of margin-softmax face losses (NormFace, CosFace, ArcFace).

    cos(theta_j) = <x / ||x||, w_j / ||w_j||>      for each class j

A Dense layer without bias whose inputs and class weights are both L2-normalised, so the
outputs are cosines in [-1, 1]; the loss (e.g. CosFace: s * (cos - m) for the true class)
turns them into logits. Wang et al. 2018 (CosFace), Deng et al. 2019 (ArcFace).
"""

import keras


@keras.saving.register_keras_serializable(package="classics")
class CosineLogits(keras.layers.Layer):
    """(batch, features) -> (batch, units) cosines between the input and each class weight.

    Args:
        units: number of classes (> 0).
        kernel_initializer: initializer of the (features, units) class weights.
        epsilon: added under the norms (a zero vector gives cosines 0, not NaN).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"units: expected a positive integer, got {units}")
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer=self.kernel_initializer)

    def call(self, inputs):
        from keras import ops

        x = inputs / ops.sqrt(ops.sum(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)
        w = self.kernel / ops.sqrt(ops.sum(ops.square(self.kernel), axis=0, keepdims=True) + self.epsilon)
        return ops.matmul(x, w)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "epsilon": self.epsilon}

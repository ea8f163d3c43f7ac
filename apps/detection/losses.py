"""The YOLO loss on the target grid made by `data.encode_targets`.

Per anchor slot (obj = 1 where an object is assigned, else 0):

    lambda_coord * obj * (|sigmoid(t_xy) - xy|^2 + |t_wh - log(wh / anchor)|^2)
  + obj * BCE(1, objectness) + lambda_noobj * (1 - obj) * BCE(0, objectness)
  + lambda_class * obj * CE(class one-hot, softmax(class logits))

summed over the grid and anchors, averaged over the batch. The no-object term is
down-weighted (YOLOv1's lambda_noobj = 0.5): almost every slot is empty, and an
un-weighted sum lets "nothing here" drown the few slots that hold an object.
"""

import keras


@keras.saving.register_keras_serializable(package="classics")
class YoloLoss(keras.losses.Loss):
    def __init__(self, lambda_coord=5.0, lambda_noobj=0.5, lambda_class=1.0, name="yolo_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.lambda_coord = float(lambda_coord)
        self.lambda_noobj = float(lambda_noobj)
        self.lambda_class = float(lambda_class)

    def components(self, y_true, y_pred):
        """Per-example (batch,) sums of the box, objectness, no-object and class terms."""
        from keras import ops

        y_pred = ops.cast(y_pred, "float32")
        y_true = ops.cast(y_true, "float32")
        obj = y_true[..., 4]
        xy = ops.sum(ops.square(ops.sigmoid(y_pred[..., 0:2]) - y_true[..., 0:2]), axis=-1)
        wh = ops.sum(ops.square(y_pred[..., 2:4] - y_true[..., 2:4]), axis=-1)
        logit = y_pred[..., 4]
        # BCE from logits: log(1 + e^-z) for target 1, log(1 + e^z) for target 0.
        object_term = ops.softplus(-logit)
        empty_term = ops.softplus(logit)
        class_ce = -ops.sum(y_true[..., 5:] * ops.log_softmax(y_pred[..., 5:], axis=-1), axis=-1)

        def total(t):
            return ops.sum(ops.reshape(t, (ops.shape(t)[0], -1)), axis=-1)

        return {
            "box": total(obj * (xy + wh)),
            "object": total(obj * object_term),
            "no_object": total((1.0 - obj) * empty_term),
            "class": total(obj * class_ce),
        }

    def call(self, y_true, y_pred):
        c = self.components(y_true, y_pred)
        return (self.lambda_coord * c["box"] + c["object"] + self.lambda_noobj * c["no_object"]
                + self.lambda_class * c["class"])

    def get_config(self):
        return {**super().get_config(), "lambda_coord": self.lambda_coord,
                "lambda_noobj": self.lambda_noobj, "lambda_class": self.lambda_class}

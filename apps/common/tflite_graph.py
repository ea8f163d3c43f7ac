"""A float TensorFlow Lite model run as TensorFlow ops, so that it can live inside a SavedModel.

`TfliteGraph(path)` reads the flatbuffer with TensorFlow's own schema bindings
(`tensorflow.lite.tools.flatbuffer_utils`) and, when called on a float32 batch, replays its
operators one by one as TensorFlow ops with the weights as constants: the result equals
`tf.lite.Interpreter`'s (tested on MediaPipe's BlazeFace and FaceMesh) but runs on a batch,
differentiates, and exports with the rest of a model (`tf.saved_model.save`), which an
interpreter cannot. The float weights (fp16 ones dequantized once) are variables held by
`graph.module` (a tf.Module): attach it to the module being saved, and every signature that
calls the graph shares one copy. `TfliteGraph(path, frozen=True)` makes them graph constants
instead (`graph.module` then holds none): Grappler folds the kernel layouts and fuses each
convolution with its bias and activation once, when the calling function is optimised, which
saves a fifth of a call (BlazeFace 3.4 -> 2.7 ms, FaceMesh 5.3 -> 4.2 ms on one core); trace
the graph into one tf.function that every signature calls, so the weights are stored once.

Only the operators of small float vision models are known (the list in `_OPS`); a model with
any other operator, or with quantised (int8) tensors, is refused when it is read.
TFLite's layouts differ from TensorFlow's in two places: CONV_2D filters are (out, kh, kw, in)
and DEPTHWISE_CONV_2D filters (1, kh, kw, in x multiplier).
"""

import pathlib

import numpy as np

from apps.common.errors import ConfigError

# TFLite's enums (tensorflow/lite/schema/schema.fbs).
_SAME, _VALID = 0, 1
_ACTIVATIONS = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh"}
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}


class TfliteGraph:
    """Callable: float32 (N, ...) batch -> the model's outputs (a list, the model's order).

    `input_shape` and `output_names` describe the model (the batch dimension as the file
    states it, usually 1: any batch size works)."""

    def __init__(self, path, frozen=False):
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        try:
            model = flatbuffer_utils.read_model(str(path))
        except Exception as exc:  # noqa: BLE001 - the flatbuffer reader raises anything on bad bytes
            raise ConfigError(f"{path}: not a TensorFlow Lite model ({exc})") from None
        if len(model.subgraphs) != 1:
            raise ConfigError(f"{path}: {len(model.subgraphs)} subgraphs; one is supported")
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        graph = model.subgraphs[0]
        self.path = str(path)
        self.tensors = graph.tensors
        self.inputs, self.outputs = list(graph.inputs), list(graph.outputs)
        self.input_shape = tuple(int(d) for d in graph.tensors[graph.inputs[0]].shape)
        self.output_names = [graph.tensors[i].name.decode() for i in graph.outputs]
        self.operators = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            if name not in _OPS:
                raise ConfigError(f"{path}: operator {name} is not supported (known: {', '.join(sorted(_OPS))})")
            self.operators.append((name, list(op.inputs), list(op.outputs), op.builtinOptions))
        self.constants = {}
        for index, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if data is None or len(data) == 0:
                continue
            if tensor.type not in _DTYPES or tensor.quantization is not None and \
                    tensor.quantization.scale is not None and len(tensor.quantization.scale):
                raise ConfigError(f"{path}: tensor {tensor.name.decode()} is quantised or of type "
                                  f"{tensor.type}; only float models are supported")
            array = np.frombuffer(bytes(bytearray(data)), _DTYPES[tensor.type])
            self.constants[index] = array.reshape([int(d) for d in tensor.shape])
        # DEQUANTIZE of a constant (fp16 weights) is done here, once.
        for name, inputs, outputs, _ in self.operators:
            if name == "DEQUANTIZE" and inputs[0] in self.constants:
                self.constants[outputs[0]] = self.constants[inputs[0]].astype(np.float32)
        self.operators = [op for op in self.operators if not (op[0] == "DEQUANTIZE" and op[2][0] in self.constants)]
        import tensorflow as tf

        self.module = tf.Module(name="tflite_" + "".join(c if c.isalnum() else "_" for c in pathlib.Path(path).stem))
        weights = [] if frozen else [i for i, a in self.constants.items() if a.dtype == np.float32]
        self.module.weights = [tf.Variable(self.constants[i], trainable=False, name=f"t{i}") for i in weights]
        self.variables = dict(zip(weights, self.module.weights))

    def __call__(self, x):
        import tensorflow as tf

        values = {self.inputs[0]: tf.convert_to_tensor(x, tf.float32)}

        def get(index):
            if index in values:
                return values[index]
            if index in self.variables:
                return self.variables[index]
            return tf.constant(self.constants[index])

        for name, inputs, outputs, options in self.operators:
            values[outputs[0]] = _OPS[name](self, get, inputs, options)
        return [values[i] for i in self.outputs]


# ---------------------------------------------------------------- the operators
def _activate(x, options):
    import tensorflow as tf

    kind = _ACTIVATIONS.get(getattr(options, "fusedActivationFunction", 0), "unknown")
    if kind is None:
        return x
    if kind == "relu":
        return tf.nn.relu(x)
    if kind == "relu6":
        return tf.nn.relu6(x)
    if kind == "relu_n1_to_1":
        return tf.clip_by_value(x, -1.0, 1.0)
    if kind == "tanh":
        return tf.tanh(x)
    raise ConfigError(f"fused activation {options.fusedActivationFunction} is not supported")


def _padding(options):
    return "SAME" if options.padding == _SAME else "VALID"


def _dequantize(graph, get, inputs, options):
    import tensorflow as tf

    return tf.cast(get(inputs[0]), tf.float32)


def _conv(graph, get, inputs, options):
    import tensorflow as tf

    kernel = tf.transpose(get(inputs[1]), [1, 2, 3, 0])  # (out, kh, kw, in) -> (kh, kw, in, out)
    y = tf.nn.conv2d(get(inputs[0]), kernel, [1, options.strideH, options.strideW, 1], _padding(options),
                     dilations=[1, options.dilationHFactor, options.dilationWFactor, 1])
    if len(inputs) > 2 and inputs[2] >= 0:
        y = y + get(inputs[2])
    return _activate(y, options)


def _depthwise(graph, get, inputs, options):
    import tensorflow as tf

    x = get(inputs[0])
    channels = x.shape[-1]
    kernel = get(inputs[1])  # (1, kh, kw, in x multiplier)
    kernel = tf.reshape(kernel, [kernel.shape[1], kernel.shape[2], channels, kernel.shape[3] // channels])
    y = tf.nn.depthwise_conv2d(x, kernel, [1, options.strideH, options.strideW, 1], _padding(options),
                               dilations=[options.dilationHFactor, options.dilationWFactor])
    if len(inputs) > 2 and inputs[2] >= 0:
        y = y + get(inputs[2])
    return _activate(y, options)


def _add(graph, get, inputs, options):
    return _activate(get(inputs[0]) + get(inputs[1]), options)


def _relu(graph, get, inputs, options):
    import tensorflow as tf

    return tf.nn.relu(get(inputs[0]))


def _prelu(graph, get, inputs, options):
    import tensorflow as tf

    x, alpha = get(inputs[0]), get(inputs[1])
    return tf.nn.relu(x) + alpha * tf.minimum(x, 0.0)


def _pad(graph, get, inputs, options):
    import tensorflow as tf

    return tf.pad(get(inputs[0]), graph.constants[inputs[1]])


def _max_pool(graph, get, inputs, options):
    import tensorflow as tf

    y = tf.nn.max_pool2d(get(inputs[0]), [options.filterHeight, options.filterWidth],
                         [options.strideH, options.strideW], _padding(options))
    return _activate(y, options)


def _reshape(graph, get, inputs, options):
    import tensorflow as tf

    x = get(inputs[0])
    target = [int(d) for d in (graph.constants[inputs[1]] if len(inputs) > 1 and inputs[1] in graph.constants
                               else options.newShape)]
    # The file's batch dimension (1) stands for any batch: keep the caller's.
    return tf.reshape(x, [tf.shape(x)[0], *target[1:]])


def _concatenation(graph, get, inputs, options):
    import tensorflow as tf

    return _activate(tf.concat([get(i) for i in inputs], options.axis), options)


_OPS = {
    "DEQUANTIZE": _dequantize,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "ADD": _add,
    "RELU": _relu,
    "PRELU": _prelu,
    "PAD": _pad,
    "MAX_POOL_2D": _max_pool,
    "RESHAPE": _reshape,
    "CONCATENATION": _concatenation,
}

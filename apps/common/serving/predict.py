"""One predict request run through a loaded version's signature, with per-instance answers.

- An empty batch answers at once ({"predictions": []}, or empty columns) without calling the
  graph: many graphs fail on a 0-row batch.
- An export may return an `error` output, one string per instance ("" when it is fine): in
  row format a failed instance answers {"error": "..."} in its place; columnar answers carry
  the `error` column as is.
- When the graph fails on the whole batch (an InvalidArgumentError: an image that cannot be
  decoded, a failed assertion; what a signature without an `error` output does on a bad
  instance), a row-format batch is run again instance by instance: the good instances get
  their answers, each bad one {"error": "<one line>"}. A columnar request is one tensor per
  input, so it fails as a whole (400).
"""

import re

from apps.common.serving import codec
from apps.common.serving.codec import BadRequest, PredictRequest, ServingError


def tf_error_message(exc) -> str:
    """The one line of a TensorFlow error that says what is wrong (no node names, no stack)."""
    lines = []
    for line in str(getattr(exc, "message", exc)).splitlines():
        text = line.strip()
        noise = ("Graph execution error", "Detected at node", "File ", "[[", "<stack")
        if not text or text.startswith(noise) or line.startswith((" ", "\t")):
            continue
        lines.append(re.sub(r"\{\{[^}]*\}\}\s*", "", text.split(" [Op:")[0]))  # {{function_node ...}}
    return lines[-1] if lines else type(exc).__name__


def _call(signature, arrays: dict) -> dict:
    """{output name: numpy array}; tf.errors.OpError passes through."""
    import tensorflow as tf  # deliberate lazy loading: `classics --help` must not start TF

    tensors = {name: tf.constant(a, dtype=signature.inputs[name].dtype) for name, a in arrays.items()}
    return {name: t.numpy() for name, t in signature.function(**tensors).items()}


def _rejected(signature, exc) -> str:
    return f"signature '{signature.name}' rejected the input: {tf_error_message(exc)}"


def _one_by_one(signature, arrays: dict, batch: int) -> list:
    """Row answers of a batch the graph refused as a whole, each instance called alone."""
    import tensorflow as tf  # deliberate lazy loading, as in _call

    answers = []
    for i in range(batch):
        try:
            outputs = _call(signature, {name: a[i:i + 1] for name, a in arrays.items()})
        except tf.errors.InvalidArgumentError as e:
            answers.append({"error": _rejected(signature, e)})
            continue
        except tf.errors.OpError as e:
            raise ServingError(f"signature '{signature.name}' failed: {tf_error_message(e)}") from None
        answers.extend(codec.rows(outputs))
    return answers


def _empty_body(signature, columnar: bool) -> dict:
    if not columnar:
        return {"predictions": []}
    names = signature.outputs
    return {"outputs": [] if len(names) == 1 else {name: [] for name in names}}


def run_signature(loaded, request: PredictRequest) -> dict:
    """Call `loaded`'s (a versions.LoadedVersion) signature on the request; TF Serving's
    response body, with per-instance errors inside (see the module docstring)."""
    import tensorflow as tf  # deliberate lazy loading, as in _call

    signature = loaded.signatures.get(request.signature_name)
    if signature is None:
        raise BadRequest(f"signature_name '{request.signature_name}' not found; version "
                         f"{loaded.version} has {sorted(loaded.signatures)}")
    if codec.is_empty_batch(signature, request):
        return _empty_body(signature, request.columnar)
    arrays = codec.input_arrays(signature, request)
    try:
        outputs = _call(signature, arrays)
    except tf.errors.InvalidArgumentError as e:
        batch = {a.shape[0] if a.ndim else None for a in arrays.values()}
        if request.columnar or len(batch) != 1 or None in batch:
            raise BadRequest(_rejected(signature, e)) from None
        if batch == {1}:  # the one instance is the bad one: no need to run it again
            return {"predictions": [{"error": _rejected(signature, e)}]}
        return {"predictions": _one_by_one(signature, arrays, batch.pop())}
    except tf.errors.OpError as e:
        raise ServingError(f"signature '{signature.name}' failed: {tf_error_message(e)}") from None
    return codec.response_body(outputs, request.columnar)

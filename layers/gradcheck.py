"""Gradient checking: central finite differences against autodiff.

Run it in float64: build the layer with `dtype="float64"` (e.g.
`ResidualBlock(4, dtype="float64")`). In float32 the rounding error of the objective,
divided by `2 * epsilon`, swamps the gradient, so float32 variables are refused.
Floating inputs are cast to float64 here.

The scalar objective defaults to `J = sum_k sum(output_k * R_k)` with a fixed, seeded
standard-normal projection `R_k` per output tensor, so dJ/d(output) = R: every output
element contributes with a different weight (a plain sum would let errors that cancel
across elements pass).

Reported per checked tensor and overall (all checked coordinates concatenated):

    relative difference = ||g_auto - g_num||_2 / (||g_auto||_2 + ||g_num||_2)

about 1e-9 or less for a correct gradient in float64 with epsilon = 1e-6; above 1e-2
means a wrong gradient (a factor of 2 gives 1/3). ReLU kinks or max-pool ties within
epsilon of a coordinate can spoil a single coordinate; with random data that is rare.
"""

import dataclasses
import inspect

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class GradientCheckResult:
    """Outcome of `gradient_check`.

    Attributes:
        relative_difference: Over all checked coordinates together.
        per_variable: Relative difference per checked tensor, by variable path
            (`layer/sublayer/kernel`) or `inputs[i]` (i = position in the flattened inputs).
        num_checked: Number of perturbed coordinates per checked tensor.
        max_abs_difference: Largest |g_auto - g_num| over all checked coordinates.
        epsilon: Finite-difference step.
    """

    relative_difference: float
    per_variable: dict
    num_checked: dict
    max_abs_difference: float
    epsilon: float

    def worst(self):
        """(name, relative difference) of the worst checked tensor."""
        return max(self.per_variable.items(), key=lambda item: item[1])


def relative_difference(g_auto, g_num):
    """`||a - n|| / (||a|| + ||n||)`; 0 when both are zero (nothing to disagree on)."""
    g_auto = np.ravel(g_auto)
    g_num = np.ravel(g_num)
    denominator = np.linalg.norm(g_auto) + np.linalg.norm(g_num)
    if denominator == 0.0:
        return 0.0
    return float(np.linalg.norm(g_auto - g_num) / denominator)


def _accepts_training(fn):
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _is_floating(x):
    return tf.as_dtype(x.dtype).is_floating


def _variable_name(variable):
    # Keras variables have a unique path ("block/conv_1/kernel"); tf.Variables a name.
    return getattr(variable, "path", None) or variable.name


def gradient_check(
    fn_or_layer,
    inputs,
    *,
    training=False,
    epsilon=1e-6,
    variables=None,
    check_inputs=True,
    max_checks_per_variable=None,
    objective=None,
    seed=0,
):
    """Compare autodiff gradients with central finite differences.

    Args:
        fn_or_layer: A Keras layer (or model), called as `layer(inputs, training=training)`
            (built first by an inference-mode call if needed); or any function of tensors, called as
            `fn(inputs)`, plus `training=training` if its signature accepts `training`.
        inputs: An array/tensor or a (nested) list/tuple/dict of them, passed as is.
            Floating leaves are cast to float64 (and checked if `check_inputs`); other
            leaves (e.g. integer ids) are passed unchanged and not checked.
        training: Call mode. False (default) makes BatchNormalization use its moving
            statistics, so the function is deterministic. True is fine for deterministic
            layers (BN then differentiates through the batch statistics); not for dropout.
        epsilon: Finite-difference step; 1e-6 suits float64.
        variables: Variables to check. Default: the layer's `trainable_variables`, or none
            for a plain function (it is then checked with respect to its inputs only).
        check_inputs: Also check the gradient with respect to the floating inputs.
        max_checks_per_variable: If set, perturb only this many coordinates per tensor,
            drawn at random (seeded) without replacement; None perturbs all of them. Each
            checked coordinate costs two forward passes.
        objective: Optional function from the outputs to a scalar; default
            `sum(output * R)` with a seeded random R (see the module docstring).
        seed: Seed of the projection R and of the coordinate subsets.

    Returns:
        A `GradientCheckResult`.

    Raises:
        ValueError: For a bad argument, or a checked variable that is not float64.

    Every variable the call can change (including BN moving statistics in training mode)
    is restored afterwards.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not (0.0 < epsilon < 1.0):
        raise ValueError(f"`epsilon` must be a float in (0, 1), received: {epsilon!r}")
    if max_checks_per_variable is not None and (
        isinstance(max_checks_per_variable, bool)
        or not isinstance(max_checks_per_variable, int)
        or max_checks_per_variable < 1
    ):
        raise ValueError(
            f"`max_checks_per_variable` must be None or a positive int, received: {max_checks_per_variable!r}"
        )
    if not callable(fn_or_layer):
        raise ValueError(f"`fn_or_layer` must be a layer or a callable, received: {fn_or_layer!r}")

    is_layer = isinstance(fn_or_layer, keras.layers.Layer)
    if is_layer or _accepts_training(fn_or_layer):

        def call(x):
            return fn_or_layer(x, training=training)
    else:
        call = fn_or_layer

    flat_inputs = [
        tf.cast(x, tf.float64) if _is_floating(x) else tf.convert_to_tensor(x)
        for x in (tf.convert_to_tensor(leaf) for leaf in tf.nest.flatten(inputs))
    ]
    checked_inputs = [i for i, x in enumerate(flat_inputs) if x.dtype == tf.float64] if check_inputs else []

    def forward(flat):
        return call(tf.nest.pack_sequence_as(inputs, list(flat)))

    if is_layer and not fn_or_layer.built:
        # Build in inference mode: a training call would move BN statistics before the
        # snapshot below.
        fn_or_layer(tf.nest.pack_sequence_as(inputs, flat_inputs), training=False)

    if variables is None:
        variables = list(fn_or_layer.trainable_variables) if is_layer else []
    else:
        variables = list(variables)
    for variable in variables:
        if tf.as_dtype(variable.dtype) != tf.float64:
            raise ValueError(
                f"gradient_check needs float64 variables, received {variable.dtype} for "
                f"{_variable_name(variable)!r}; build the layer with dtype='float64'"
            )

    if not variables and not checked_inputs:
        raise ValueError("gradient_check has nothing to check: no variables and no float inputs")

    # Snapshot everything the calls may touch (moving statistics too) to restore it.
    state = list(fn_or_layer.variables) if is_layer else []
    state += [v for v in variables if all(v is not s for s in state)]
    saved = [np.array(v.numpy(), copy=True) for v in state]
    try:
        return _check(
            forward,
            flat_inputs,
            checked_inputs,
            variables,
            epsilon,
            max_checks_per_variable,
            objective,
            seed,
        )
    finally:
        for variable, value in zip(state, saved, strict=True):
            variable.assign(value)


def _check(
    forward,
    flat_inputs,
    checked_inputs,
    variables,
    epsilon,
    max_checks_per_variable,
    objective,
    seed,
):
    """The check proper; `gradient_check` validates its arguments and restores state."""
    rng = np.random.default_rng(seed)
    if objective is None:
        # Eager call for the output shapes of R.
        outputs = forward(flat_inputs)
        projections = [
            tf.constant(rng.standard_normal(np.shape(y)), tf.float64) for y in tf.nest.flatten(outputs)
        ]

        def objective(out):
            return tf.add_n(
                [
                    tf.reduce_sum(tf.cast(y, tf.float64) * r)
                    for y, r in zip(tf.nest.flatten(out), projections, strict=True)
                ]
            )

    @tf.function
    def loss_fn(*flat):
        return objective(forward(flat))

    @tf.function
    def grad_fn(*flat):
        watched = [flat[i] for i in checked_inputs]
        with tf.GradientTape() as tape:
            tape.watch(watched)
            loss = objective(forward(flat))
        return tape.gradient(loss, variables + watched, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def pick(size):
        if max_checks_per_variable is None or size <= max_checks_per_variable:
            return np.arange(size)
        return np.sort(rng.choice(size, max_checks_per_variable, replace=False))

    def numeric_gradient(value, coords, evaluate):
        """Central differences of `evaluate(perturbed value)` at `coords` of `value`."""
        flat = np.array(value, dtype=np.float64, copy=True).reshape(-1)
        grads = np.empty(len(coords))
        for k, c in enumerate(coords):
            original = flat[c]
            flat[c] = original + epsilon
            plus, j_plus = flat[c], evaluate(flat.reshape(np.shape(value)))
            flat[c] = original - epsilon
            minus, j_minus = flat[c], evaluate(flat.reshape(np.shape(value)))
            flat[c] = original
            # The representable step (plus - minus) is not exactly 2 * epsilon.
            grads[k] = (j_plus - j_minus) / (plus - minus)
        return grads

    auto = [g.numpy().reshape(-1) for g in grad_fn(*flat_inputs)]
    per_variable, num_checked, all_auto, all_num = {}, {}, [], []

    def record(name, g_auto, g_num):
        while name in per_variable:  # unnamed tf.Variables may share a name
            name += "_"
        per_variable[name] = relative_difference(g_auto, g_num)
        num_checked[name] = len(g_num)
        all_auto.append(g_auto)
        all_num.append(g_num)

    for variable, g_auto in zip(variables, auto[: len(variables)], strict=True):
        base = variable.numpy()
        coords = pick(base.size)

        def evaluate(value, variable=variable):
            variable.assign(value)
            return float(loss_fn(*flat_inputs))

        g_num = numeric_gradient(base, coords, evaluate)
        variable.assign(base)
        record(_variable_name(variable), g_auto[coords], g_num)

    for i, g_auto in zip(checked_inputs, auto[len(variables) :], strict=True):
        base = flat_inputs[i].numpy()
        coords = pick(base.size)

        def evaluate(value, i=i):
            perturbed = list(flat_inputs)
            perturbed[i] = tf.constant(value, tf.float64)
            return float(loss_fn(*perturbed))

        record(f"inputs[{i}]", g_auto[coords], numeric_gradient(base, coords, evaluate))

    all_auto = np.concatenate(all_auto)
    all_num = np.concatenate(all_num)
    return GradientCheckResult(
        relative_difference=relative_difference(all_auto, all_num),
        per_variable=per_variable,
        num_checked=num_checked,
        max_abs_difference=float(np.max(np.abs(all_auto - all_num))),
        epsilon=float(epsilon),
    )

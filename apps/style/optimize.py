"""Optimise the pixels of G: J(G) = alpha Jcontent + beta Jstyle + tv TV, by L-BFGS or Adam.

The default L-BFGS (`GraphLBFGS`) runs each whole iteration, J, gradient and update, in one
`tf.function`, as does Adam (`StyleProblem.adam_step`); every pixel is kept in 0..255. The
`lbfgs-b` option hands scipy's L-BFGS-B the loss and gradient from one `tf.function`
(`StyleProblem.loss_and_grads`, on the flat float64 vector scipy works in) with box bounds.
Pixels live in caffe space (BGR minus the ImageNet mean) throughout.
"""

import dataclasses
import os
import sys
import time

import numpy as np

from apps.common.errors import ConfigError
from apps.style import data as data_lib
from apps.style import losses
from apps.style import vgg as vgg_lib

# Peak RSS ~ BASE + PER_FLOAT * activation floats (VGG16 forward + backward). Measured here:
# 0.95 GiB at 128 px and 3.74 GiB at 1024 px (2 L-BFGS iterations; benchmarks/style.py), i.e.
# ~0.9 GiB + 9.8 bytes per float; L-BFGS-B's 10 float64 correction pairs add ~1.6 bytes per
# float once full, and the rest is margin.
BASE_BYTES = 1.0 * 2**30
BYTES_PER_ACTIVATION_FLOAT = 12.0


@dataclasses.dataclass
class Progress:
    """One line of the loss history."""

    iteration: int
    seconds: float
    total: float
    content: float
    style: float
    tv: float


def estimate_bytes(backbone, layer_names, height, width) -> float:
    floats = vgg_lib.activation_floats(backbone, layer_names, height, width)
    return BASE_BYTES + BYTES_PER_ACTIVATION_FLOAT * floats


def check_memory(backbone, layer_names, height, width, limit_gib) -> float:
    """The estimate in GiB; ConfigError before anything is allocated when it exceeds the limit."""
    gib = estimate_bytes(backbone, layer_names, height, width) / 2**30
    if gib > limit_gib:
        raise ConfigError(f"image_size: a {width}x{height} image needs about {gib:.1f} GiB "
                          f"(estimate), more than max_memory_gib={limit_gib:g}; use a smaller "
                          "image_size or raise max_memory_gib")
    return gib


class StyleProblem:
    """Targets (content activations, blended style Grams) and J's weights for one size."""

    def __init__(self, extractor, config, content_bgr, style_bgrs, blend):
        import tensorflow as tf

        self.extractor = extractor
        self.n_style = len(config.style_layers)
        self.layer_weights = [float(w) for w in config.style_layer_weights]
        self.alpha, self.beta, self.tv_weight = config.content_weight, config.style_weight, config.tv_weight
        content_acts = extractor(tf.constant(content_bgr[None]))
        self.content_target = tf.constant(content_acts[-1])
        grams = []
        for s in style_bgrs:
            acts = extractor(tf.constant(s[None]))
            grams.append([losses.normalized_gram(a) for a in acts[: self.n_style]])
        self.style_targets = [tf.constant(g) for g in losses.blend_grams(grams, blend)]
        self.shape = content_bgr.shape
        # scipy's view: a float64 vector in, (float64 terms, float64 gradient vector) out. The
        # casts and reshapes run in the graph, so the only host copies are scipy's own.
        self.loss_and_grads = tf.function(
            self._loss_and_grads, input_signature=[tf.TensorSpec([int(np.prod(self.shape))], tf.float64)])
        self.adam_step = tf.function(self._adam_step, reduce_retracing=True)

    def terms(self, image):
        """(total, content, style, tv) for a caffe-space image (1, H, W, 3)."""
        acts = self.extractor(image)
        content = losses.content_cost(self.content_target, acts[-1])
        style = losses.style_cost(self.style_targets, acts[: self.n_style], self.layer_weights)
        tv = losses.total_variation(image)
        total = losses.total_cost(content, style, tv, self.alpha, self.beta, self.tv_weight)
        return total, content, style, tv

    def _loss_and_grads(self, flat):
        import tensorflow as tf

        image = tf.reshape(tf.cast(flat, tf.float32), (1, *self.shape))
        # Only the pixels are differentiated: the frozen VGG's variables are not watched.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(image)
            total, content, style, tv = self.terms(image)
        grad = tf.reshape(tf.cast(tape.gradient(total, image), tf.float64), [-1])
        return tf.cast(tf.stack([total, content, style, tv]), tf.float64), grad

    def _adam_step(self, variable, optimizer):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            total, content, style, tv = self.terms(variable)
        optimizer.apply_gradients([(tape.gradient(total, variable), variable)])
        # Keep pixels displayable: 0..255 in RGB is [-mean, 255 - mean] in caffe space.
        variable.assign(tf.clip_by_value(variable, -vgg_lib.BGR_MEAN, 255.0 - vgg_lib.BGR_MEAN))
        return total, content, style, tv


def _bounds(shape):
    """0..255 in RGB is [-mean, 255 - mean] per channel in caffe space, as flat float64 arrays
    (a list of (low, high) pairs would be one Python tuple per pixel channel)."""
    from scipy.optimize import Bounds

    low = np.broadcast_to(-vgg_lib.BGR_MEAN.astype(np.float64), shape).ravel()
    high = np.broadcast_to(255.0 - vgg_lib.BGR_MEAN.astype(np.float64), shape).ravel()
    return Bounds(low, high)


def lbfgs_objective(problem):
    """scipy's `fun(x) -> (J, dJ/dx)` on the flat float64 image, and a dict whose "terms" holds
    (total, content, style, tv) of the latest evaluation."""
    last = {}

    def fun(flat):
        terms, grad = problem.loss_and_grads(flat)
        last["terms"] = tuple(terms.numpy().tolist())
        return last["terms"][0], grad.numpy()

    return fun, last


def run_lbfgs(problem, x0, iterations, callback):
    """scipy L-BFGS-B on the flattened image; `callback(i, terms)` after each iteration."""
    try:
        import threadpoolctl
        from scipy.optimize import minimize
    except ImportError:
        raise ConfigError("optimizer=lbfgs needs scipy and threadpoolctl (pip install scipy threadpoolctl); "
                          "or use optimizer=adam") from None
    fun, last = lbfgs_objective(problem)
    count = [0]

    def on_iteration(xk):
        count[0] += 1
        callback(count[0], last["terms"], lambda: xk.reshape(x0.shape).astype(np.float32))

    # One BLAS thread for scipy's own work: its vector operations on the ~H*W*3 pixels are
    # memory-bound, and OpenBLAS's extra threads spin against TensorFlow's thread pool (and any
    # other process): on 2 busy cores, L-BFGS-B's update took 10x longer with them.
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        result = minimize(fun, x0.astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
                          bounds=_bounds(x0.shape), callback=on_iteration,
                          options=dict(maxiter=iterations, maxfun=int(iterations * 1.25) + 5,
                                       maxcor=10, ftol=0.0, gtol=0.0))
    return result.x.reshape(x0.shape).astype(np.float32)


class GraphLBFGS:
    """L-BFGS with the whole iteration in one `tf.function`: J and dJ/dx, the curvature pair,
    the two-loop recursion over the last `memory` pairs and the step, clipped to 0..255.

    As neural-style runs it (torch optim's lbfgs without a line search), except the first
    step: -g scaled so no pixel moves more than `first_step` (pixel units; torch's
    min(1, 1/|g|_1) is tiny for J's large gradients and wastes the first iterations). Later
    steps take the quasi-Newton direction whole (initial inverse Hessian y.s / y.y of the
    newest pair); a pair whose curvature y.s is not positive is skipped; the step is clipped
    to the pixel range. (On the Gatys cost, measured at 64 px over 100 iterations, this plain
    form reached a lower J than variants that hold pixels on their bounds out of the pairs or
    halve a step after which J rose.) One evaluation per
    iteration and no host round trip: the step costs what J and its gradient cost, where
    scipy's L-BFGS-B (`lbfgs-b`) adds a float64 copy each way, a line search and a
    breakpoint search over every pixel's bounds.
    """

    def __init__(self, problem, x0, memory=10, first_step=1.0):
        import tensorflow as tf

        n = int(np.prod(x0.shape))
        self.problem, self.memory, self.first_step = problem, memory, first_step
        self.low = tf.constant(-vgg_lib.BGR_MEAN, tf.float32)
        self.high = tf.constant(255.0 - vgg_lib.BGR_MEAN, tf.float32)
        self.image = tf.Variable(x0[None].astype(np.float32))
        self.s = tf.Variable(tf.zeros([memory, n]))  # oldest first; zero rows are inert
        self.y = tf.Variable(tf.zeros([memory, n]))
        self.rho = tf.Variable(tf.zeros([memory]))
        self.previous_x = tf.Variable(tf.zeros([n]))
        self.previous_g = tf.Variable(tf.zeros([n]))
        self.scale = tf.Variable(1.0)  # y.s / y.y of the newest pair
        self.iteration = tf.Variable(0)
        self.step = tf.function(self._step)

    def _step(self):
        import tensorflow as tf

        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self.image)
            total, content, style, tv = self.problem.terms(self.image)
        g = tf.reshape(tape.gradient(total, self.image), [-1])
        x = tf.reshape(self.image, [-1])
        if self.iteration > 0:
            s, y = x - self.previous_x, g - self.previous_g
            ys = tf.tensordot(y, s, 1)
            if ys > 1e-10:
                self.s.assign(tf.concat([self.s[1:], s[None]], 0))
                self.y.assign(tf.concat([self.y[1:], y[None]], 0))
                self.rho.assign(tf.concat([self.rho[1:], [1.0 / ys]], 0))
                self.scale.assign(ys / tf.tensordot(y, y, 1))
        # Two-loop recursion: d = -H g.
        q, alphas = -g, [None] * self.memory
        for i in reversed(range(self.memory)):
            alphas[i] = self.rho[i] * tf.tensordot(self.s[i], q, 1)
            q -= alphas[i] * self.y[i]
        d = q * self.scale
        for i in range(self.memory):
            d += self.s[i] * (alphas[i] - self.rho[i] * tf.tensordot(self.y[i], d, 1))
        t = tf.where(self.iteration > 0, 1.0, self.first_step / tf.reduce_max(tf.abs(g)))
        self.previous_x.assign(x)
        self.previous_g.assign(g)
        # The step taken is the clipped one: the next pair's s is what the pixels really moved.
        self.image.assign(tf.clip_by_value(self.image + t * tf.reshape(d, tf.shape(self.image)),
                                           self.low, self.high))
        self.iteration.assign_add(1)
        return total, content, style, tv


def run_graph_lbfgs(problem, x0, iterations, callback):
    """`GraphLBFGS` for `iterations` steps; `callback(i, terms)` after each, the terms being
    J at the start of that step (the image it was computed on is the step's input)."""
    solver = GraphLBFGS(problem, x0)
    for i in range(1, iterations + 1):
        terms = solver.step()
        callback(i, tuple(float(t) for t in terms), lambda: solver.image.numpy()[0])
    return solver.image.numpy()[0]


def run_adam(problem, x0, iterations, learning_rate, callback):
    import keras
    import tensorflow as tf

    variable = tf.Variable(x0[None].astype(np.float32))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-1)
    optimizer.build([variable])
    for i in range(1, iterations + 1):
        terms = problem.adam_step(variable, optimizer)
        callback(i, tuple(float(t) for t in terms), lambda: variable.numpy()[0])
    return variable.numpy()[0]


def _resize(arr, height, width):
    from PIL import Image

    rgb = vgg_lib.deprocess(arr) if arr.dtype != np.uint8 else arr
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC), np.uint8)


def initial_image(config, content_rgb, style_rgbs, rng):
    """uint8 RGB start image at the content's size."""
    h, w = content_rgb.shape[:2]
    if config.init == "content":
        return content_rgb
    if config.init == "style":
        return _resize(style_rgbs[0], h, w)
    noise = rng.uniform(0, 255, size=content_rgb.shape)
    r = config.noise_ratio
    return np.clip(r * noise + (1 - r) * content_rgb, 0, 255).astype(np.uint8)


def scale_sizes(height, width, scales):
    """Coarse to fine: (h, w) at 1/2^(scales-1), ..., 1/2, 1 of the full size."""
    return [(max(data_lib.MIN_SIDE, round(height / 2**k)), max(data_lib.MIN_SIDE, round(width / 2**k)))
            for k in reversed(range(scales))]


def original_colors(content_rgb, output_rgb):
    """Luminance-only transfer: Y of the output, I and Q of the content (YIQ)."""
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64)
    from_yiq = np.linalg.inv(to_yiq)
    c = content_rgb.astype(np.float64) @ to_yiq.T
    o = output_rgb.astype(np.float64) @ to_yiq.T
    yiq = np.concatenate([o[..., :1], c[..., 1:]], axis=-1)
    return np.clip(np.rint(yiq @ from_yiq.T), 0, 255).astype(np.uint8)


def stylize(config, content_rgb, style_rgbs, vgg=None, out_dir=None, log=print):
    """Run the optimisation; returns (uint8 RGB image, [Progress])."""
    import tensorflow as tf

    data_lib.check_config(config)
    blend = data_lib.blend_weights(config)
    if len(style_rgbs) != len(blend):
        raise ConfigError(f"style_blend_weights: {len(blend)} weights for {len(style_rgbs)} styles")
    vgg = vgg or vgg_lib.build_vgg(config.backbone, config.weights)
    layers = [*config.style_layers, config.content_layer]
    height, width = content_rgb.shape[:2]
    gib = check_memory(config.backbone, layers, height, width, config.max_memory_gib)
    log(f"{width}x{height}, {config.optimizer}, {config.iterations} iterations x {config.scales} "
        f"scale(s); memory estimate {gib:.1f} GiB")
    tf.random.set_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    extractor = vgg_lib.build_extractor(vgg, layers)
    history, started = [], time.perf_counter()
    current = None
    for scale_index, (h, w) in enumerate(scale_sizes(height, width, config.scales)):
        content = _resize(content_rgb, h, w)
        styles = [_resize(s, max(data_lib.MIN_SIDE, round(s.shape[0] * h / height)),
                          max(data_lib.MIN_SIDE, round(s.shape[1] * w / width))) for s in style_rgbs]
        start = initial_image(config, content, styles, rng) if current is None else _resize(current, h, w)
        problem = StyleProblem(extractor, config, vgg_lib.preprocess(content),
                               [vgg_lib.preprocess(s) for s in styles], blend)

        def callback(i, terms, image_fn, h=h, w=w, scale_index=scale_index):
            elapsed = time.perf_counter() - started
            history.append(Progress(i, elapsed, *terms))
            if config.print_every and (i % config.print_every == 0 or i == 1):
                log(f"  [{w}x{h}] iter {i:4d}  {elapsed:7.1f} s  J {terms[0]:.4g}  content "
                    f"{terms[1]:.4g}  style {terms[2]:.4g}  tv {terms[3]:.4g}")
            if out_dir and config.save_every and i % config.save_every == 0:
                name = f"iter-s{scale_index}-{i:05d}.png"
                _save(vgg_lib.deprocess(image_fn()), os.path.join(out_dir, name))

        x0 = vgg_lib.preprocess(start)
        if config.optimizer == "lbfgs":
            current = run_graph_lbfgs(problem, x0, config.iterations, callback)
        elif config.optimizer == "lbfgs-b":
            current = run_lbfgs(problem, x0, config.iterations, callback)
        else:
            current = run_adam(problem, x0, config.iterations, config.learning_rate, callback)
    result = vgg_lib.deprocess(current)
    if config.original_colors:
        result = original_colors(content_rgb, result)
    return result, history


def _save(rgb, path):
    from PIL import Image

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def stderr_log(message):
    print(message, file=sys.stderr, flush=True)


def load_images(config):
    """(content uint8 (H, W, 3) at image_size, [style uint8 arrays at style_scale * image_size])."""
    data_lib.check_config(config)
    content = data_lib.read_rgb(config.content)
    # Refuse a size that would not fit before any large array exists.
    check_memory(config.backbone, (*config.style_layers, config.content_layer),
                 *data_lib.fitted_size(*content.shape[:2], config.image_size), config.max_memory_gib)
    content = data_lib.resize_longest(content, config.image_size)
    style_size = max(data_lib.MIN_SIDE, round(config.image_size * config.style_scale))
    styles = [data_lib.resize_longest(data_lib.read_rgb(s), style_size) for s in config.styles]
    return content, styles

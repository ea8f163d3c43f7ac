"""Style transfer: one optimisation step vs a bare tf.function step (Adam: the whole update
against an inline Adam step; L-BFGS, the default: our whole in-graph iteration against a bare
loss+gradient call; scipy's L-BFGS-B, the `lbfgs-b` option: per evaluation, as information),
L-BFGS until it reaches Adam's 1,000-step loss (wall time, PNG plot, scipy's L-BFGS-B beside it),
peak RSS of a 1024 px run, and the fast stylizer's 512 px render time.

    python -m benchmarks.run --only style [--quick]
"""

import dataclasses
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import Row, at_most, log, median

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _config(**overrides):
    from apps.style.config import Config

    return dataclasses.replace(Config(), content="astronaut", styles=("ihc",), print_every=0, **overrides)


def _problem(vgg, config):
    from apps.style import optimize
    from apps.style import vgg as vgg_lib

    content, styles = optimize.load_images(config)
    extractor = vgg_lib.build_extractor(vgg, [*config.style_layers, config.content_layer])
    problem = optimize.StyleProblem(
        extractor, config, vgg_lib.preprocess(content), [vgg_lib.preprocess(s) for s in styles], [1.0]
    )
    return problem, extractor, vgg_lib.preprocess(content)


def _bare_loss(extractor, problem, config):
    """The reference objective: the same extractor and loss written out inline, with none of
    the app's structure (no StyleProblem, no losses module)."""
    import tensorflow as tf

    content_t, style_t = problem.content_target, problem.style_targets
    n, lw = len(config.style_layers), [float(w) for w in config.style_layer_weights]

    def loss(x):
        acts = extractor(x)
        content = 0.5 * tf.reduce_sum(tf.square(acts[-1] - content_t))
        style = 0.0
        for gram, a, w in zip(style_t, acts[:n], lw):
            hw = tf.cast(tf.shape(a)[1] * tf.shape(a)[2], tf.float32)
            flat = tf.reshape(a, [-1, tf.shape(a)[-1]])
            g = tf.matmul(flat, flat, transpose_a=True) / hw
            c = tf.cast(tf.shape(a)[-1], tf.float32)
            style += w * tf.reduce_sum(tf.square(gram - g)) / tf.square(2.0 * c)
        tv = tf.reduce_sum(tf.square(x[:, 1:] - x[:, :-1])) + tf.reduce_sum(
            tf.square(x[:, :, 1:] - x[:, :, :-1])
        )
        return config.content_weight * content + config.style_weight * style + config.tv_weight * tv

    return loss


def _bare_loss_and_grad(extractor, problem, config):
    """L-BFGS's reference: J and dJ/dx of a float32 image in one tf.function."""
    import tensorflow as tf

    loss = _bare_loss(extractor, problem, config)

    @tf.function
    def loss_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = loss(x)
        return total, tape.gradient(total, x)

    return loss_and_grad


def _bare_step(extractor, problem, config):
    """Adam's reference: the same loss and an Adam update written out inline in one tf.function."""
    import tensorflow as tf

    loss = _bare_loss(extractor, problem, config)
    lr, b1, b2, eps = config.learning_rate, 0.9, 0.999, 1e-1
    mean = tf.constant([103.939, 116.779, 123.68])

    @tf.function
    def step(x, m, v, t):
        with tf.GradientTape() as tape:
            total = loss(x)
        grad = tape.gradient(total, x)
        t.assign_add(1.0)
        m.assign(b1 * m + (1 - b1) * grad)
        v.assign(b2 * v + (1 - b2) * tf.square(grad))
        step_size = lr * tf.sqrt(1 - tf.pow(b2, t)) / (1 - tf.pow(b1, t))
        x.assign(tf.clip_by_value(x - step_size * m / (tf.sqrt(v) + eps), -mean, 255.0 - mean))
        return total

    return step


def _interleaved(fns, reps):
    """{name: [seconds, ...]}: the functions called in turn, the order reversed every round so
    load changes hit each alike."""
    for fn in fns.values():  # trace + warm up
        fn()
        fn()
    times = {k: [] for k in fns}
    for r in range(reps):
        for k in list(fns) if r % 2 == 0 else list(reversed(list(fns))):
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return times


def _paired(times, ours, ref):
    """Median of the per-round ratios: each pair ran back to back, under the same load."""
    return median([a / b for a, b in zip(times[ours], times[ref])])


def _step_speed(vgg, size, reps):
    import keras
    import tensorflow as tf

    from apps.style import optimize

    config = _config(image_size=size, optimizer="adam")
    problem, extractor, x0 = _problem(vgg, config)
    ours_var = tf.Variable(x0[None])
    opt = keras.optimizers.Adam(config.learning_rate, epsilon=1e-1)
    opt.build([ours_var])
    ref_var, m, v = (
        tf.Variable(x0[None]),
        tf.Variable(tf.zeros_like(x0[None])),
        tf.Variable(tf.zeros_like(x0[None])),
    )
    t = tf.Variable(0.0)
    bare = _bare_step(extractor, problem, config)
    bare_lg = _bare_loss_and_grad(extractor, problem, config)
    fun, _ = optimize.lbfgs_objective(problem)
    flat = x0.astype(np.float64).ravel()  # what scipy hands `fun`
    image = tf.constant(x0[None])
    solver = optimize.GraphLBFGS(problem, x0)
    fns = {
        "ours_adam": lambda: float(problem.adam_step(ours_var, opt)[0]),
        "bare_adam": lambda: float(bare(ref_var, m, v, t)),
        # One whole L-BFGS iteration (evaluation, history update, two-loop, clipped step).
        "ours_lbfgs_step": lambda: float(solver.step()[0]),
        # scipy's whole call: float64 vector in, (float J, float64 gradient) out.
        "ours_lbfgs_eval": lambda: fun(flat),
        "bare_loss_grad": lambda: bare_lg(image)[1].numpy(),
    }
    times = _interleaved(fns, reps)
    # min of N: under other processes' load the fastest call is the one that got the cores.
    return (
        {k: min(v) for k, v in times.items()},
        {k: median(v) for k, v in times.items()},
        {"adam": _paired(times, "ours_adam", "bare_adam"),
         "lbfgs_step": _paired(times, "ours_lbfgs_step", "bare_loss_grad"),
         "lbfgs_eval": _paired(times, "ours_lbfgs_eval", "bare_loss_grad")},
    )


def _lbfgs_iterations(vgg, size, iterations, rounds):
    """Seconds per function evaluation inside real L-BFGS-B runs (scipy's update included) and
    per bare loss+gradient call, alternating runs of equal count; min over rounds of each."""
    import tensorflow as tf

    from apps.style import optimize

    config = _config(image_size=size, optimizer="lbfgs-b")
    problem, extractor, x0 = _problem(vgg, config)
    bare_lg = _bare_loss_and_grad(extractor, problem, config)
    image = tf.constant(x0[None])
    evaluate = problem.loss_and_grads
    calls = [0]

    def counted(flat):
        calls[0] += 1
        return evaluate(flat)

    problem.loss_and_grads = counted
    evaluate(x0.astype(np.float64).ravel())  # trace outside the timing, as the bare one is below
    bare_lg(image)[1].numpy()
    ours, ref = [], []
    for _ in range(rounds):
        calls[0] = 0
        start = time.perf_counter()
        optimize.run_lbfgs(problem, x0, iterations, lambda *a: None)
        ours.append((time.perf_counter() - start) / calls[0])
        start = time.perf_counter()
        for _ in range(calls[0]):
            bare_lg(image)[1].numpy()
        ref.append((time.perf_counter() - start) / calls[0])
    return min(ours), min(ref), calls[0]


def _loss_vs_time(vgg, size, adam_steps, lbfgs_max, png):
    """Adam for `adam_steps` steps, then L-BFGS (ours in one tf.function, and scipy's L-BFGS-B)
    from the same start until its J is at most Adam's final J (or `lbfgs_max` iterations); the
    curves to a PNG. Returns Adam's (time, J) and per L-BFGS {name: (time reached or None,
    iterations, time, J)}."""
    from apps.style import optimize

    config = _config(image_size=size)
    problem, _, x0 = _problem(vgg, config)
    curves = {}

    def record(points, stop_at=None):
        started = time.perf_counter()

        def callback(i, terms, image_fn):
            points.append((time.perf_counter() - started, terms[0]))
            if stop_at is not None and terms[0] <= stop_at:
                raise StopIteration  # scipy ends the minimisation here

        return callback

    curves["adam"] = []
    optimize.run_adam(problem, x0, adam_steps, config.learning_rate, record(curves["adam"]))
    adam_t, adam_j = curves["adam"][-1]
    log(f"  adam: {adam_steps} steps, final J {adam_j:.4g} in {adam_t:.1f} s")
    ends = {}
    for name, runner in (("lbfgs", optimize.run_graph_lbfgs), ("lbfgs-b", optimize.run_lbfgs)):
        curves[name] = []
        try:
            runner(problem, x0, lbfgs_max, record(curves[name], stop_at=adam_j))
        except StopIteration:  # ours: the callback's stop ends the loop here
            pass
        t_end, j_end = curves[name][-1]
        ends[name] = (t_end if j_end <= adam_j else None, len(curves[name]), t_end, j_end)
        log(f"  {name}: {len(curves[name])} iterations, J {j_end:.4g} in {t_end:.1f} s")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)  # matplotlib's object API: no pyplot state
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, pts in curves.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{name} ({len(pts)} iterations)")
    ax.axhline(adam_j, color="gray", lw=0.8, ls="--", label=f"Adam's {adam_steps}-step J")
    for colour, (reached, _, _, j_end) in zip(("C1", "C2"), ends.values()):
        if reached is not None:
            ax.plot([reached], [j_end], "o", color=colour)
            ax.annotate(f"{reached:.0f} s", (reached, j_end), textcoords="offset points", xytext=(5, 8))
    ax.set_yscale("log")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("J(G)")
    ax.set_title(f"L-BFGS vs Adam, astronaut x ihc, {size} px, style weight {config.style_weight:g}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    return adam_t, adam_j, ends


def _peak_rss_run(size, iterations):
    """Peak RSS (GiB) of `classics style run` at `size` px in a child process."""
    scratch = tempfile.TemporaryDirectory(prefix="classics-style-bench-")
    cmd = [
        sys.executable, "-m", "apps", "style", "run", "--image-size", str(size),
        "--iterations", str(iterations), "--print-every", "1",
        "--set", f"runs_dir={scratch.name}/runs", "-o", f"{scratch.name}/style-{size}.png",
    ]
    started = time.perf_counter()
    with scratch:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-800:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return peak, seconds, proc.stderr


def _fast_render(size, reps):
    import tensorflow as tf

    from apps.style import fast

    model = fast.build_transform_net(_config())
    pixels = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32))
    call = tf.function(lambda x: fast.stylize_pixels(model, x))
    call(pixels)
    call(pixels)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call(pixels).numpy()
        times.append(time.perf_counter() - start)
    return min(times), median(times)


def run(quick: bool) -> list[Row]:
    import tempfile

    from apps.style import optimize
    from apps.style import vgg as vgg_lib

    rows = []
    vgg = vgg_lib.build_vgg()
    size = 128 if quick else 512
    log(f"style: step speed at {size} px")
    t, med, paired = _step_speed(vgg, size, reps=3 if quick else 5)
    rows.append(
        Row(
            f"style: Adam step {size} px vs bare tf.function step (min)",
            t["ours_adam"],
            "s",
            t["bare_adam"],
            "s",
            target="<= 1.1x",
            ok=at_most(t["ours_adam"] / t["bare_adam"], 1.1),
            note="ours: StyleProblem.adam_step (keras Adam, clip); reference: the same extractor, loss and "
            "an inline Adam update in one tf.function; offline VGG16 (no VGG19 offline); "
            f"medians: ours {med['ours_adam']:.2f} s, bare {med['bare_adam']:.2f} s; "
            f"median of paired ratios {paired['adam']:.3f}",
        )
    )
    rows.append(
        Row(
            f"style: L-BFGS step {size} px vs bare loss+grad (min)",
            t["ours_lbfgs_step"],
            "s",
            t["bare_loss_grad"],
            "s",
            target="<= 1.1x",
            ok=at_most(t["ours_lbfgs_step"] / t["bare_loss_grad"], 1.1),
            note="ours: one whole GraphLBFGS iteration (the default optimizer: J and gradient, history "
            "update, two-loop recursion over 10 pairs, clipped step, one tf.function); reference: J "
            "and dJ/dx of the float32 image in one inline tf.function, gradient fetched to numpy; "
            f"medians: ours {med['ours_lbfgs_step']:.2f} s, bare {med['bare_loss_grad']:.2f} s; "
            f"median of paired ratios {paired['lbfgs_step']:.3f}",
        )
    )
    rows.append(
        Row(
            f"style: L-BFGS-B f+grad eval {size} px vs bare loss+grad (min)",
            t["ours_lbfgs_eval"],
            "s",
            t["bare_loss_grad"],
            "s",
            note="optimizer=lbfgs-b: the function scipy's L-BFGS-B calls (float64 vector in; float J and "
            "float64 gradient out); reference as above; "
            f"medians: ours {med['ours_lbfgs_eval']:.2f} s, bare {med['bare_loss_grad']:.2f} s; "
            f"median of paired ratios {paired['lbfgs_eval']:.3f}",
        )
    )
    its, rounds = (3, 1) if quick else (10, 1)
    log(f"style: L-BFGS-B runs of {its} iterations at {size} px")
    per_eval, per_bare, nfev = _lbfgs_iterations(vgg, size, its, rounds)
    rows.append(
        Row(
            f"style: L-BFGS-B run, per evaluation {size} px vs bare loss+grad",
            per_eval,
            "s",
            per_bare,
            "s",
            note=f"optimizer=lbfgs-b: wall time of scipy.optimize.minimize ({its} iterations, {nfev} "
            "evaluations, scipy's update and bounds included) / evaluations, vs the same count of bare "
            f"loss+grad calls right after; min of {rounds} rounds",
        )
    )

    lsize, adam_steps, lbfgs_max = (64, 30, 30) if quick else (128, 1000, 500)
    # A quick run must not overwrite the full run's plot.
    png = (pathlib.Path(tempfile.gettempdir()) if quick else RESULTS) / "style_loss_vs_time.png"
    log(f"style: loss vs time at {lsize} px")
    adam_t, adam_j, ends = _loss_vs_time(vgg, lsize, adam_steps, lbfgs_max, png)
    shown = png.relative_to(RESULTS.parent.parent) if not quick else png
    for name, (reached, its_end, t_end, j_end) in ends.items():
        default = name == "lbfgs"
        rows.append(
            Row(
                f"style: {'L-BFGS' if default else 'L-BFGS-B (scipy)'} time to Adam's {adam_steps}-step J "
                f"({lsize} px)",
                reached if reached is not None else float("nan"),
                "s",
                adam_t,
                "s",
                target="<= 0.5x Adam's time" if default else "info",
                ok=(reached is not None and reached <= 0.5 * adam_t) if default else None,
                note=f"optimizer={name}; astronaut x ihc from the content image, default weights; Adam (lr "
                f"{_config().learning_rate:g}) {adam_steps} steps: J {adam_j:.4g} at {adam_t:.1f} s; "
                f"{name} stopped at J {j_end:.4g} after {its_end} iterations, {t_end:.1f} s; plot {shown}",
            )
        )

    est = (
        optimize.estimate_bytes("vgg16", [*_config().style_layers, _config().content_layer], 1024, 1024)
        / 2**30
    )
    if quick:
        rows.append(Row("style: 1024 px memory estimate", est, "GiB", target="info", ok=None))
    else:
        log("style: 1024 px run (2 iterations) in a child process")
        peak, seconds, _ = _peak_rss_run(1024, 2)
        rows.append(
            Row(
                "style: 1024 px run peak RSS",
                peak,
                "GiB",
                target="< 8 GiB",
                ok=peak < 8.0,
                note=f"estimate {est:.1f} GiB; 2 L-BFGS iterations took {seconds:.0f} s incl. start-up",
            )
        )

    log("style: fast stylizer render at 512 px")
    render, render_median = _fast_render(512, 3 if quick else 9)
    rows.append(
        Row(
            "style: fast stylizer 512 px render",
            render,
            "s",
            target="< 1 s",
            ok=render < 1.0,
            note=f"default fast_filters=(16, 32, 64), 3 residual blocks; one image, tf.function; min of "
            f"{3 if quick else 9} (median {render_median:.2f} s)",
        )
    )
    return rows

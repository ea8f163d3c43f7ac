"""Training speed of the classification app's networks, against the machine and plain Keras.

Rows (all references measured in this run):
- matmul: achieved fp32 GFLOP/s of a 2048x2048 `tf.matmul` (median of 10 after warm-up),
  measured before, between and after the model sections: the machine's practical peak.
  Each GFLOP/s fraction divides by the mean of the matmul rates measured just before and
  just after its own section, since the load of a shared machine drifts.
- "<preset> net": steady-state training images/s of the classification Task's
  `build_model(config, data)` for 10 classes of 28x28x1 images, compiled by the Task's
  `compile` (steps per epoch: 100, for the schedule), on random uint8-valued batches of
  the preset's batch size (median `train_on_batch` time); and its achieved GFLOP/s =
  3 x forward FLOPs per image x images/s, as a fraction of the matmul GFLOP/s.
- ResNet50: the same fraction for `keras.applications.ResNet50(weights=None)`, a
  well-tuned stock Keras model, so the app's fraction can be judged.
- residual blocks vs plain Keras: the same network written with plain Conv2D /
  BatchNormalization / Activation / Add layers (same sizes, strides, biases, BN settings,
  regularizers and parameter count), step time ours / plain, measured interleaved.

Forward FLOPs are counted from the Conv2D and Dense layers only (2 x MACs; see
`common.forward_flops`).
"""

import keras

from benchmarks.common import (
    Row,
    at_most,
    forward_flops,
    interleaved_train_steps,
    log,
    matmul_gflops,
    median,
    random_batch,
    spread,
    time_train_steps,
)

PRESETS = ("default", "fashion")
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
TARGET_OVERHEAD = 1.05  # ours / plain step time


def preset_config(preset):
    from apps.classification.config import PRESETS, Config
    from apps.common.config import preset_config as resolve_preset

    return resolve_preset(Config, PRESETS, preset)


def stand_in_data(config, steps_per_epoch=100):
    """What the Task builds and compiles a model from (class names, input shape, training
    size for the schedule's steps per epoch), without reading a dataset: zero images."""
    import numpy as np

    from apps.classification.data import Splits

    n = steps_per_epoch * config.batch_size
    x, y = np.zeros((n, *INPUT_SHAPE), np.uint8), np.zeros(n, np.int64)
    return Splits(x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], x_test=x[:0], y_test=y[:0],
                  class_names=tuple(str(i) for i in range(NUM_CLASSES)))


# ---------------------------------------------------------------- the plain-Keras twin
def _regularizer(config):
    return keras.regularizers.L2(config.weight_decay) if config.weight_decay > 0 else None


def _conv(config, filters, kernel_size, strides, name):
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same" if kernel_size > 1 else "valid",
        use_bias=config.use_bias, kernel_initializer="he_normal",
        kernel_regularizer=_regularizer(config), name=name,
    )


def _bn(config, name):
    # ResidualBlock's BN: the config's momentum, its default epsilon 1.001e-5.
    return keras.layers.BatchNormalization(momentum=config.bn_momentum, epsilon=1.001e-5, name=name)


def _plain_block(x, config, filters, strides, name):
    """`layers.ResidualBlock` (ResNet v1, "basic" or "bottleneck", shortcut "auto") unrolled."""
    if config.block_type == "bottleneck":
        out_channels = filters * 4
        specs = [(1, filters, strides), (3, filters, 1), (1, out_channels, 1)]
    else:
        out_channels = filters
        specs = [(3, filters, strides), (3, filters, 1)]
    shortcut = x
    for i, (size, width, stride) in enumerate(specs):
        x = _conv(config, width, size, stride, f"{name}_conv{i + 1}")(x)
        x = _bn(config, f"{name}_bn{i + 1}")(x)
        if i < len(specs) - 1:
            x = keras.layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
    if strides != 1 or shortcut.shape[-1] != out_channels:
        shortcut = _conv(config, out_channels, 1, strides, f"{name}_proj")(shortcut)
        shortcut = _bn(config, f"{name}_proj_bn")(shortcut)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def build_plain_model(config, num_classes, input_shape):
    """`apps.classification.model.build_model` for a ResNet with the small stem, built
    from plain Keras layers only (including the nested "backbone" sub-model)."""
    if config.backbone != "resnet" or config.stem != "small":
        raise ValueError("the plain twin covers backbone='resnet' with stem='small' only")
    pixels = keras.Input(input_shape, name="pixels")
    x = _conv(config, config.stem_filters, 3, 1, "stem_conv")(pixels)
    x = _bn(config, "stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    for stage, (filters, blocks) in enumerate(zip(config.stage_filters, config.stage_blocks)):
        for block in range(int(blocks)):
            strides = 2 if (block == 0 and stage > 0) else 1
            x = _plain_block(x, config, int(filters), strides, f"stage{stage + 1}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    backbone = keras.Model(pixels, x, name="backbone")

    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = backbone(x)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(config), name="logits")(x)
    return keras.Model(inputs, logits, name="plain_classifier")


def _param_counts(model):
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return trainable, frozen


def check_same_architecture(ours, plain):
    """Equal parameter counts (trainable and not), same weight shapes, same FLOPs."""
    counts = _param_counts(ours), _param_counts(plain)
    if counts[0] != counts[1]:
        raise AssertionError(
            f"parameter counts differ: ours {counts[0]}, plain {counts[1]} (trainable, BN stats)")
    shapes = [sorted(tuple(w.shape) for w in m.weights) for m in (ours, plain)]
    if shapes[0] != shapes[1]:
        raise AssertionError("weight shapes differ between ours and the plain twin")
    return counts[0]


# ---------------------------------------------------------------- benchmark
def _preset_rows(preset, rounds, steps_per_round):
    from apps import get_task

    task = get_task("classification")
    config = preset_config(preset)
    data = stand_in_data(config)
    keras.utils.set_random_seed(config.seed)
    ours = task.build_model(config, data)
    plain = build_plain_model(config, NUM_CLASSES, INPUT_SHAPE)
    for model in (ours, plain):
        task.compile(model, config, data)
    trainable, frozen = check_same_architecture(ours, plain)
    flops = forward_flops(ours, INPUT_SHAPE)
    plain_flops = forward_flops(plain, INPUT_SHAPE)
    if flops["total"] != plain_flops["total"]:
        raise AssertionError(f"FLOPs differ: ours {flops}, plain {plain_flops}")
    batch_size = config.batch_size
    print(f"{preset}: stem {config.stem_filters}, stages {config.stage_filters} x {config.stage_blocks} "
          f"{config.block_type}, batch {batch_size}; params {trainable:,} trainable + {frozen:,} BN stats "
          f"(plain twin equal); forward {flops['total'] / 1e6:.2f} MFLOP/image "
          f"({flops['layers']} conv/dense layers), training 3x = {3 * flops['total'] / 1e6:.1f} MFLOP/image")

    log(f"speed: {preset}: ours vs plain, {rounds} interleaved rounds of {steps_per_round} steps")
    times, per_round = interleaved_train_steps(
        {"ours": ours, "plain": plain}, random_batch(batch_size, INPUT_SHAPE, NUM_CLASSES),
        rounds=rounds, steps_per_round=steps_per_round,
    )
    step_ours, step_plain = median(times["ours"]), median(times["plain"])
    round_ratios = sorted(a / b for a, b in zip(per_round["ours"], per_round["plain"]))
    print(f"{preset}: step ours {step_ours * 1e3:.1f} ms ({spread(times['ours'])}), plain "
          f"{step_plain * 1e3:.1f} ms ({spread(times['plain'])}); per-round ratios "
          f"{', '.join(f'{r:.3f}' for r in round_ratios)}")
    images_per_s = batch_size / step_ours
    gflops = 3 * flops["total"] * images_per_s / 1e9
    keras.backend.clear_session()
    return [
        Row(f"{preset} net training throughput (batch {batch_size})", images_per_s, "img/s",
            note=f"median train_on_batch {step_ours * 1e3:.1f} ms; random uint8 28x28x1 batches"),
        Row(f"{preset} net training GFLOP/s vs matmul", gflops, "GFLOP/s", None, "GFLOP/s matmul",
            target="info (fraction of matmul)",
            note=f"3 x {flops['total'] / 1e6:.2f} MFLOP/image forward x {images_per_s:.0f} img/s"),
        Row(f"{preset} net: residual blocks vs plain Keras (step time)", step_ours * 1e3, "ms",
            step_plain * 1e3, "ms plain", target=f"ratio <= {TARGET_OVERHEAD}",
            ok=at_most(step_ours / step_plain, TARGET_OVERHEAD),
            note=f"interleaved {rounds} rounds x {steps_per_round} steps each; per-round ratio "
                 f"median {median(round_ratios):.3f} (range {round_ratios[0]:.3f}-{round_ratios[-1]:.3f})"),
    ]


def _resnet50_row(size, batch_size, steps):
    keras.utils.set_random_seed(0)
    shape = (size, size, 3)
    model = keras.applications.ResNet50(weights=None, input_shape=shape, classes=1000)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=False), metrics=["accuracy"])
    flops = forward_flops(model, shape)
    log(f"speed: ResNet50 {size}x{size} batch {batch_size}, {steps} steps")
    times = time_train_steps(model, *random_batch(batch_size, shape, 1000), steps=steps, warmup=2)
    step = median(times)
    images_per_s = batch_size / step
    gflops = 3 * flops["total"] * images_per_s / 1e9
    print(f"ResNet50 {size}x{size}x3 batch {batch_size}: forward {flops['total'] / 1e9:.2f} GFLOP/image, "
          f"step {step * 1e3:.0f} ms ({spread(times)}), {images_per_s:.2f} img/s")
    keras.backend.clear_session()
    return Row(f"keras ResNet50 {size}px training GFLOP/s vs matmul (batch {batch_size})", gflops, "GFLOP/s",
               None, "GFLOP/s matmul", target="info (fraction of matmul)",
               note=f"keras.applications.ResNet50(weights=None), Adam, "
                    f"3 x {flops['total'] / 1e9:.2f} GFLOP/image x {images_per_s:.2f} img/s")


def run(quick: bool):
    n = 1024 if quick else 2048
    reps = 3 if quick else 10

    def matmul():
        gflops, _ = matmul_gflops(n=n, reps=reps)
        log(f"speed: matmul {n}x{n}: {gflops:.1f} GFLOP/s")
        return gflops

    # A matmul measurement before and after every section: on a shared machine the load
    # changes, so each fraction divides by the matmul rate measured around it.
    log("speed: matmul")
    matmuls = [matmul()]
    sections = []
    for preset in PRESETS:
        sections.append(_preset_rows(preset, rounds=2 if quick else 10, steps_per_round=2 if quick else 5))
        matmuls.append(matmul())
    if quick:
        sections.append([_resnet50_row(size=64, batch_size=2, steps=1)])
    else:
        sections.append([_resnet50_row(size=224, batch_size=8, steps=6)])
    matmuls.append(matmul())
    print(f"matmul {n}x{n} fp32 around the sections: {', '.join(f'{g:.1f}' for g in matmuls)} GFLOP/s")

    rows = [Row(f"matmul fp32 {n}x{n} (the reference)", max(matmuls), "GFLOP/s",
                note="best of the measurements before/between/after the model sections: "
                     + ", ".join(f"{g:.1f}" for g in matmuls))]
    for i, section in enumerate(sections):
        around = (matmuls[i] + matmuls[i + 1]) / 2
        for row in section:
            if row.reference_unit == "GFLOP/s matmul":
                row.reference = around
                row.ratio = row.ours / around
                row.note += f"; matmul: mean of {matmuls[i]:.1f} before and {matmuls[i + 1]:.1f} after"
        rows.extend(section)
    return rows

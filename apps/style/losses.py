"""The course's style-transfer cost, as small pure functions of tensors.

J(G) = alpha * Jcontent(C, G) + beta * Jstyle(S, G) (+ a total-variation term):

* Jcontent(C, G) = 1/2 * ||a[l](C) - a[l](G)||^2 (one middle layer l)
* G[l]_kk' = sum_i sum_j a[l]_ijk a[l]_ijk' (the Gram matrix, nC x nC)
* Jstyle[l](S, G) = 1 / (2 nH nW nC)^2 * sum_k sum_k' (G[l](S)_kk' - G[l](G)_kk')^2
* Jstyle(S, G) = sum_l lambda[l] * Jstyle[l](S, G)

Activations are (H, W, C) or (1, H, W, C) tensors. The style image may have another size
than G (`--style-scale`); the 1/(nH nW)^2 part of the normalisation is then applied to each
Gram with its own image's nH nW, which equals the course's formula when the sizes match.
"""

import tensorflow as tf


def _hwc(a):
    a = tf.convert_to_tensor(a)
    if a.shape.rank == 4:
        # (1, H, W, C) -> (H, W, C). A squeeze is a reshape both ways; `a[0]` would put a
        # StridedSliceGrad (a zero-filled copy of the whole activation) in the backward pass.
        a = tf.squeeze(a, axis=0)
    return a


def gram_matrix(a):
    """(H, W, C) activations -> (C, C) Gram matrix sum_ij a_ijk a_ijk'."""
    a = _hwc(a)
    flat = tf.reshape(a, [-1, tf.shape(a)[-1]])  # (nH * nW, nC)
    return tf.matmul(flat, flat, transpose_a=True)


def normalized_gram(a):
    """Gram / (nH * nW): the quantity style targets are stored as (size independent)."""
    a = _hwc(a)
    positions = tf.cast(tf.shape(a)[0] * tf.shape(a)[1], a.dtype)
    return gram_matrix(a) / positions


def content_cost(a_c, a_g):
    """1/2 * sum of squared differences of one layer's activations."""
    return 0.5 * tf.reduce_sum(tf.square(_hwc(a_c) - _hwc(a_g)))


def layer_style_cost_from_gram(target_gram, a_g):
    """Jstyle[l] with the style side given as a normalised Gram (Gram / (nH nW)).

    1/(2 nH nW nC)^2 * ||G_S - G_G||^2 = ||G_S/(nH nW) - G_G/(nH nW)||^2 / (2 nC)^2.
    """
    a_g = _hwc(a_g)
    channels = tf.cast(tf.shape(a_g)[-1], a_g.dtype)
    diff = target_gram - normalized_gram(a_g)
    return tf.reduce_sum(tf.square(diff)) / tf.square(2.0 * channels)


def layer_style_cost(a_s, a_g):
    """Jstyle[l](S, G) = 1/(2 nH nW nC)^2 * sum (G(S) - G(G))^2."""
    return layer_style_cost_from_gram(normalized_gram(a_s), a_g)


def style_cost(target_grams, acts_g, layer_weights):
    """sum_l lambda[l] * Jstyle[l]; target_grams are normalised Grams, one per layer."""
    if not (len(target_grams) == len(acts_g) == len(layer_weights)):
        raise ValueError(f"style_cost: {len(target_grams)} targets, {len(acts_g)} activations, "
                         f"{len(layer_weights)} layer weights: expected equal counts")
    total = 0.0
    for gram, a_g, weight in zip(target_grams, acts_g, layer_weights):
        total += weight * layer_style_cost_from_gram(gram, a_g)
    return total


def blend_grams(grams_per_style, blend_weights):
    """Several styles: per layer, the blend-weighted sum of their normalised Grams."""
    return [
        tf.add_n([w * grams[i] for grams, w in zip(grams_per_style, blend_weights)])
        for i in range(len(grams_per_style[0]))
    ]


def total_variation(x):
    """Sum of squared differences of vertically and horizontally adjacent pixels.

    x: (H, W, C) or (1, H, W, C).
    """
    x = _hwc(x)
    dy = x[1:, :, :] - x[:-1, :, :]
    dx = x[:, 1:, :] - x[:, :-1, :]
    return tf.reduce_sum(tf.square(dy)) + tf.reduce_sum(tf.square(dx))


def total_cost(content, style, tv, alpha, beta, tv_weight):
    """J(G) = alpha * Jcontent + beta * Jstyle + tv_weight * TV."""
    return alpha * content + beta * style + tv_weight * tv

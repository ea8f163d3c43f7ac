"""The export: the in-graph sampler as a SavedModel signature (strings and scalars in, text out)."""

from __future__ import annotations

from apps.generate.sampling import make_sampler


def export_module(model, config, vocabulary):
    """(tf.Module, {"serving_default": concrete function}) for `tf.saved_model.save`.

    serving_default(prefix: string, temperature: float32, top_k: int32, max_length: int32,
    seed: int64) -> {"text": prefix + sampled continuation, "ended": EOS reached}. The
    config's sampling fields (temperature, top_k, max_sample_length) are what a client
    should send when it has no preference.
    """
    module = make_sampler(model, vocabulary)
    return module, {"serving_default": module.sample.get_concrete_function()}

"""The export: the in-graph sampler as a batched SavedModel signature (TF Serving's row format:
one instance = one prefix with its sampling settings)."""

from apps.generate.sampling import make_sampler


def export_module(model, config, vocabulary):
    """(tf.Module, {"serving_default": function}) for `tf.saved_model.save`.

    serving_default(prefix: string (N,), temperature: float32 (N,), top_k: int32 (N,),
    max_length: int32 (N,), seed: int64 (N,)) -> {"text": prefix + sampled continuation,
    "ended": EOS reached}, one sample per instance (`make_sampler`'s sample, instance by
    instance). Temperature 0 is argmax decoding; the same seed gives the same sample.
    """
    import tensorflow as tf

    module = make_sampler(model, vocabulary)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prefix"),
        tf.TensorSpec([None], tf.float32, name="temperature"),
        tf.TensorSpec([None], tf.int32, name="top_k"),
        tf.TensorSpec([None], tf.int32, name="max_length"),
        tf.TensorSpec([None], tf.int64, name="seed"),
    ])
    def sample_batch(prefix, temperature, top_k, max_length, seed):
        def one(args):
            out = module.sample(*args)
            return out["text"], out["ended"]

        text, ended = tf.map_fn(one, (prefix, temperature, top_k, max_length, seed),
                                fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.bool)))
        return {"text": text, "ended": ended}

    module.sample_batch = sample_batch
    return module, {"serving_default": sample_batch}

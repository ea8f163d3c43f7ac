"""The export: the in-graph sampler as a batched SavedModel signature (TF Serving's row format:
one instance = one prefix with its sampling settings), each instance checked first."""

from apps.generate.data import UNK
from apps.generate.sampling import make_sampler

# Symbols an instance may ask for (prefix and continuation each): a bound on the work one
# instance makes (a tune's sample is ~800 characters).
MAX_SYMBOLS = 10_000


def instance_errors(module, separator, prefix, temperature, top_k, max_length):
    """In-graph, per instance (N,): "" or one line on why it cannot be sampled: a prefix that is
    not UTF-8, longer than MAX_SYMBOLS, or holds symbols the model never saw in training (it
    has no trained input for them); temperature not a finite number >= 0; top_k < 0;
    max_length outside 0..MAX_SYMBOLS. An empty prefix is fine (a sample from the start)."""
    import tensorflow as tf

    text = tf.strings.unicode_transcode(prefix, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)
    broken = tf.strings.regex_full_match(text, "(?s).*\ufffd.*") & ~tf.strings.regex_full_match(
        prefix, "(?s).*\ufffd.*")
    if separator:
        pieces = tf.strings.split(text, sep=separator)
        pieces = tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)
    else:
        pieces = tf.strings.unicode_split(text, "UTF-8")
    unknown = tf.ragged.boolean_mask(pieces, tf.equal(module.table.lookup(pieces), UNK))
    shown = tf.strings.reduce_join(unknown[:, :10], axis=1, separator=" ")
    count = pieces.row_lengths()
    what = "tokens" if separator else "characters"
    checks = [
        (broken, tf.constant("prefix: not UTF-8 text")),
        (count > MAX_SYMBOLS, tf.strings.join(["prefix: ", tf.strings.as_string(count),
                                               f" {what}, over the maximum of {MAX_SYMBOLS}"])),
        (unknown.row_lengths() > 0,
         tf.strings.join([f"prefix: {what} the model never saw in training: ", shown])),
        (~tf.math.is_finite(temperature) | (temperature < 0),
         tf.strings.join(["temperature=", tf.strings.as_string(temperature, shortest=True),
                          ": expected a number >= 0 (0: argmax decoding)"])),
        (top_k < 0, tf.strings.join(["top_k=", tf.strings.as_string(top_k),
                                     ": expected >= 0 (0: every symbol)"])),
        ((max_length < 0) | (max_length > MAX_SYMBOLS),
         tf.strings.join(["max_length=", tf.strings.as_string(max_length),
                          f": expected 0..{MAX_SYMBOLS}"])),
    ]
    verdict = tf.fill(tf.shape(prefix), "")
    for failed, message in reversed(checks):  # the first failed check answers
        verdict = tf.where(failed, message, verdict)
    return verdict


def export_module(model, config, vocabulary):
    """(tf.Module, {"serving_default": function}) for `tf.saved_model.save`.

    serving_default(prefix: string (N,), temperature: float32 (N,), top_k: int32 (N,),
    max_length: int32 (N,), seed: int64 (N,)) -> {"text": prefix + sampled continuation,
    "ended": EOS reached, "error": "" or why the instance was refused (`instance_errors`; its
    text is then "")}, one sample per instance (`make_sampler`'s sample, instance by
    instance). Temperature 0 is argmax decoding; the same seed gives the same sample.
    config.min_bars (tunes) withholds the end until that many bar lines (`make_sampler`).
    """
    import tensorflow as tf

    module = make_sampler(model, vocabulary, config.min_bars)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prefix"),
        tf.TensorSpec([None], tf.float32, name="temperature"),
        tf.TensorSpec([None], tf.int32, name="top_k"),
        tf.TensorSpec([None], tf.int32, name="max_length"),
        tf.TensorSpec([None], tf.int64, name="seed"),
    ])
    def sample_batch(prefix, temperature, top_k, max_length, seed):
        errors = instance_errors(module, vocabulary.separator, prefix, temperature, top_k, max_length)
        fine = tf.equal(errors, "")

        def one(args):
            ok, *rest = args
            out = tf.cond(ok, lambda: module.sample(*rest),
                          lambda: {"text": tf.constant(""), "ended": tf.constant(False)})
            return out["text"], out["ended"]

        text, ended = tf.map_fn(one, (fine, prefix, temperature, top_k, max_length, seed),
                                fn_output_signature=(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.bool)))
        return {"text": text, "ended": ended, "error": errors}

    module.sample_batch = sample_batch
    return module, {"serving_default": sample_batch}

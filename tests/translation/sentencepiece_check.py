"""The check both piece vocabularies (target pieces, source pieces) must pass: our encoding and
decoding equal SentencePiece's own, on the model proto our vocabulary trained."""

import sentencepiece

# KJV verses (Genesis) both vocabularies' tests read.
ENGLISH = [
    "And God said, Let there be light: and there was light.",
    "And God saw the light, that it was good.",
    "And God called the light Day, and the darkness he called Night.",
    "In the beginning God created the heaven and the earth.",
    "Who told thee that thou wast naked?",
    "And the evening and the morning were the first day.",
]


def assert_equals_sentencepiece(pieces, texts, as_learned=lambda text: text):
    """`pieces.encode` of each text equals SentencePiece's encoding of `as_learned(text)` (the text
    as the pieces were learned from it) and decodes back to it -> (processor, the Encoded)."""
    processor = sentencepiece.SentencePieceProcessor(model_proto=pieces.model)
    assert pieces.tokens[:4] == ("<pad>", "<unk>", "<s>", "</s>")
    encoded = pieces.encode(texts, 200)
    for row, text, length in zip(encoded.ids, texts, encoded.lengths):
        learned = as_learned(text)
        assert list(row[:length]) == processor.encode(learned)
        assert pieces.decode(row) == processor.decode(processor.encode(learned)) == learned
    return processor, encoded

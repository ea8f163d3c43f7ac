"""Corpora, vocabulary, subsampling and the vectorised (center, context) pair pipeline.

Workflow: `token_blocks(config)` streams the tokens of the configured source in ~4 MB blocks
of whole sentences (a regex and a dict lookup per block, no Python per word);
`build_vocabulary` reads them once, keeps them as first-seen ids and counts them (min_count,
max_vocab_size); `encode_corpus` remaps those ids and writes the corpus as int32 word ids
(one -1 after every sentence) to a file that is memory mapped, so training never loads the
corpus whole; `chunks` cuts that file into the chunks the model trains on (its graph makes
the pairs: graph.ChunkTrainer.pairs).
`make_pairs` is the same pair rule in NumPy (subsampling with gensim's formula, a reduced
window per center word, pairs never crossing a sentence), the reference of the tests, as
`sentences(config)` (token lists, one a sentence) is gensim's input in tests and benchmarks.
"""

from __future__ import annotations

import bz2
import collections
import dataclasses
import gzip
import html
import itertools
import pathlib
import re
from collections.abc import Iterator
from types import MappingProxyType

import numpy as np

from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.sources import SourceKind, resolve_source

TOKEN_RE = re.compile(r"[^\W\d_]+")  # runs of letters, as gensim's simple_preprocess
ERRORS = ("strict", "replace")


# ---------------------------------------------------------------- reading text
def _open_binary(path: pathlib.Path):
    try:
        head = path.open("rb").read(3)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if head == b"BZh":
        return bz2.open(path, "rb")
    return path.open("rb")


def text_lines(path, errors: str = "strict") -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of a UTF-8 file (plain, gzip or bzip2), streamed.

    errors: "strict" raises DataError naming the line and byte offset of the first
    invalid UTF-8 sequence; "replace" substitutes U+FFFD and goes on.
    """
    if errors not in ERRORS:
        raise ConfigError(f"errors: expected one of {', '.join(ERRORS)}, got {errors!r}")
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with _open_binary(path) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield number, raw.decode("utf-8", errors=errors)
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{path}:{number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                        f"{exc.start + 1}); fix the file or pass --errors replace") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def text_blocks(path, errors: str = "strict", block_bytes: int = 1 << 22) -> Iterator[str]:
    """The text of a UTF-8 file (plain, gzip or bzip2) in blocks of whole lines, each line
    ending in "\n", streamed: one decode per block instead of per line. Invalid UTF-8 is
    reported (errors="strict") or replaced exactly as `text_lines` does."""
    if errors not in ERRORS:
        raise ConfigError(f"errors: expected one of {', '.join(ERRORS)}, got {errors!r}")
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    number, rest = 0, b""  # lines before this block; an unfinished line carried over
    try:
        with _open_binary(path) as fh:
            while True:
                data = fh.read(block_bytes)
                raw = rest + data
                end = raw.rfind(b"\n") + 1 if data else len(raw)
                raw, rest = raw[:end], raw[end:]
                if not raw:
                    if not data:
                        return
                    continue
                try:
                    text = raw.decode("utf-8", errors=errors)
                except UnicodeDecodeError:
                    for _ in text_lines_of(path, raw, number, errors):  # raises at the bad line
                        pass
                    raise
                number += raw.count(b"\n")
                yield text if text.endswith("\n") else text + "\n"
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def text_lines_of(path, raw: bytes, number: int, errors: str):
    """Decode the lines of `raw` (the block after line `number` of `path`) one by one."""
    for offset, line in enumerate(raw.splitlines(keepends=True), start=number + 1):
        try:
            yield line.decode("utf-8", errors=errors)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}:{offset}: not valid UTF-8 (byte 0x{line[exc.start]:02x} at column "
                f"{exc.start + 1}); fix the file or pass --errors replace") from None


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    return TOKEN_RE.findall(text.lower() if lowercase else text)


# ---------------------------------------------------------------- Wikipedia XML
_WIKI_DROP = [
    re.compile(r"<ref[^>/]*/>", re.S),
    re.compile(r"<ref.*?</ref>", re.S),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\{\|.*?\|\}", re.S),  # tables
    re.compile(r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.S | re.I),
    re.compile(r"<[^>]+>"),
]
_WIKI_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_WIKI_LINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]")
_WIKI_EXTERNAL = re.compile(r"\[https?://\S+\s*([^\]]*)\]")


def wiki_paragraphs(xml_text: str) -> Iterator[str]:
    """Plain-text paragraphs of the articles (namespace 0, no redirects) of a MediaWiki dump."""
    for page in re.finditer(r"<page>(.*?)</page>", xml_text, re.S):
        body = page.group(1)
        if "<ns>0</ns>" not in body or "<redirect" in body:
            continue
        found = re.search(r"<text[^>]*>(.*?)</text>", body, re.S)
        if not found:
            continue
        text = html.unescape(found.group(1))
        for pattern in _WIKI_DROP:
            text = pattern.sub(" ", text)
        for _ in range(5):  # nested templates, innermost first
            text, n = _WIKI_TEMPLATE.subn(" ", text)
            if not n:
                break
        text = _WIKI_LINK.sub(r"\1", text)
        text = _WIKI_EXTERNAL.sub(r"\1", text)
        text = re.sub(r"'{2,}|={2,}", " ", text)
        for paragraph in re.split(r"\n\s*\n", text):
            if paragraph.strip():
                yield paragraph


# ---------------------------------------------------------------- sources
def _lee(_arg, config):
    path = fetch_package_file(EMBEDDED["gensim-lee"])
    for _, line in text_lines(path, config.errors):
        yield line


def _wiki(_arg, config):
    path = fetch_package_file(EMBEDDED["gensim-enwiki"])
    try:
        xml_text = bz2.decompress(path.read_bytes()).decode("utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable bzip2 MediaWiki dump ({exc})") from None
    yield from wiki_paragraphs(xml_text)


def _wiki_lee(arg, config):
    yield from _wiki(arg, config)
    yield from _lee(arg, config)


def _text(arg, config):
    for _, line in text_lines(arg, config.errors):
        yield line


#: Corpus kinds: the embedded corpora from gensim's wheel and text:<path>.
TEXT_SOURCES = MappingProxyType({
    "wiki+lee": SourceKind("wiki+lee", _wiki_lee, takes_arg=False),
    "wiki": SourceKind("wiki", _wiki, takes_arg=False),
    "lee": SourceKind("lee", _lee, takes_arg=False),
    "text": SourceKind("text:<path>", _text),
})


def sentences(config) -> Iterator[list[str]]:
    """Token lists of the configured corpus, streamed; long lines cut at max_sentence_length."""
    kind, arg = resolve_source(config.data, TEXT_SOURCES, what="corpus")
    limit = config.max_sentence_length
    for text in kind.loader(arg, config):
        tokens = tokenize(text, config.lowercase)
        for start in range(0, len(tokens), limit):
            yield tokens[start:start + limit]


NEWLINE = "\n"  # a sentence's end in token blocks (never a token: tokens are letters)
_TOKEN_OR_NEWLINE = re.compile(r"[^\W\d_]+|\n")


def _joined(texts, block_chars: int = 1 << 22) -> Iterator[str]:
    """Paragraphs joined into blocks, one paragraph a line."""
    parts, size = [], 0
    for text in texts:
        parts.append(text.replace("\n", " "))
        size += len(text)
        if size >= block_chars:
            yield "\n".join(parts) + "\n"
            parts, size = [], 0
    if parts:
        yield "\n".join(parts) + "\n"


def token_blocks(config) -> Iterator[list[str]]:
    """The tokens of the configured corpus in blocks of whole sentences, NEWLINE after each
    sentence (line or paragraph): one regex call per ~4 MB block, not per line. Long lines
    are cut by `block_ids`, not here."""
    kind, arg = resolve_source(config.data, TEXT_SOURCES, what="corpus")
    texts = text_blocks(arg, config.errors) if kind is TEXT_SOURCES["text"] else _joined(kind.loader(arg, config))
    for text in texts:
        yield _TOKEN_OR_NEWLINE.findall(text.lower() if config.lowercase else text)


# ---------------------------------------------------------------- vocabulary
@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Words by descending count (ties: first seen first); ids index `words`.

    A vocabulary counted from the configured corpus also holds that corpus, read once, as
    `blocks` of first-seen ids (NEWLINE is 0) and `final`, their ids in the vocabulary
    (SEPARATOR for NEWLINE, _OUT_OF_VOCABULARY for a dropped word): `encode_corpus` then remaps
    them in NumPy instead of reading and tokenising the text again. 4 bytes per corpus word."""

    words: tuple[str, ...]
    counts: np.ndarray  # int64 (V,)
    total_words: int  # corpus tokens, in or out of the vocabulary
    blocks: tuple[np.ndarray, ...] = dataclasses.field(default=(), repr=False, compare=False)
    final: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict:
        return {w: i for i, w in enumerate(self.words)}

    def keep_probabilities(self, sample: float) -> np.ndarray:
        return keep_probabilities(self.counts, sample)


def keep_probabilities(counts, sample: float) -> np.ndarray:
    """gensim's (word2vec.c's) subsampling: keep a word of count c with probability
    `(sqrt(c / t) + 1) * t / c`, t = sample * (words in the vocabulary), capped at 1."""
    counts = np.asarray(counts, np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum() if sample < 1.0 else sample
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def _first_seen_blocks(config):
    """One pass over the corpus: (blocks of first-seen ids, the words in first-seen order, their
    counts). Per block: a regex, a dict of the block's distinct words and a C-level map; NumPy
    counts. NEWLINE is word 0."""
    seen = {NEWLINE: 0}
    counts = np.zeros(1, np.int64)
    blocks = []
    for tokens in token_blocks(config):
        new = [w for w in dict.fromkeys(tokens) if w not in seen]  # the block's new words, in order
        seen.update(zip(new, range(len(seen), len(seen) + len(new))))
        ids = np.fromiter(map(seen.__getitem__, tokens), np.int32, count=len(tokens))
        block_counts = np.bincount(ids, minlength=len(seen))
        block_counts[:len(counts)] += counts
        counts = block_counts
        blocks.append(ids)
    return tuple(blocks), tuple(seen), counts


def build_vocabulary(config, corpus=None) -> Vocabulary:
    """Count the corpus and keep words seen at least `min_count` times."""
    if config.min_count < 1:
        raise ConfigError(f"min_count: expected >= 1, got {config.min_count}")
    if corpus is None:
        blocks, seen, counts = _first_seen_blocks(config)
        seen, counts = seen[1:], counts[1:]  # NEWLINE is not a word
    else:
        counter: collections.Counter = collections.Counter()
        for tokens in corpus:
            counter.update(tokens)
        blocks, seen, counts = (), tuple(counter), np.fromiter(counter.values(), np.int64, len(counter))
    total = int(counts.sum())
    if total == 0:
        raise DataError(f"corpus {config.data!r} has no words (empty, or no letters in it)")
    kept = np.flatnonzero(counts >= config.min_count)
    kept = kept[np.argsort(-counts[kept], kind="stable")]  # stable: ties keep first-seen order
    if config.max_vocab_size > 0:
        kept = kept[:config.max_vocab_size]
    if len(kept) < 2:
        top = int(np.argmax(counts))
        raise DataError(
            f"corpus {config.data!r}: {len(kept)} word(s) occur at least min_count={config.min_count} "
            f"times ({total} words, {len(seen)} distinct, most frequent {seen[top]!r} x{counts[top]}); "
            "need at least 2: lower min_count or use a larger corpus")
    final = None
    if blocks:
        final = np.full(len(seen) + 1, _OUT_OF_VOCABULARY, np.int32)
        final[0] = SEPARATOR
        final[kept + 1] = np.arange(len(kept), dtype=np.int32)
    return Vocabulary(tuple(seen[i] for i in kept), counts[kept], total, blocks, final)


# ---------------------------------------------------------------- encoded corpus
SEPARATOR = -1


_OUT_OF_VOCABULARY = -2


def block_ids(tokens, index: dict, limit: int) -> np.ndarray:
    """int32 ids of a token block (NEWLINE -> SEPARATOR, unknown words dropped), with a
    SEPARATOR also after every `limit` tokens of a line (gensim's max_sentence_length, counted
    before unknown words are dropped, as `sentences` cuts them)."""
    ids = np.fromiter(map(index.get, tokens, itertools.repeat(_OUT_OF_VOCABULARY)), np.int32,
                      count=len(tokens))
    return _cut_lines(ids, limit)


def _cut_lines(ids: np.ndarray, limit: int) -> np.ndarray:
    """`block_ids`'s rule on ids already mapped (SEPARATOR ends a line, _OUT_OF_VOCABULARY a
    dropped word)."""
    ends = ids == SEPARATOR
    position = np.arange(len(ids))
    line_start = np.maximum.accumulate(np.where(ends, position + 1, 0))
    within = position - line_start  # a token's place in its line (0-based)
    cut = np.flatnonzero(~ends & (within > 0) & (within % limit == 0))
    if len(cut):
        ids = np.insert(ids, cut, SEPARATOR)
    return ids[ids != _OUT_OF_VOCABULARY]


def encode_corpus(config, vocab: Vocabulary, path) -> np.ndarray:
    """Write the corpus as int32 ids with SEPARATOR after each sentence (out-of-vocabulary
    words dropped, as gensim does before windowing; empty sentences left out) to `path`;
    returns a read-only memmap. A vocabulary counted from this corpus remaps the ids it holds;
    another one reads the corpus again, streamed in blocks."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = config.max_sentence_length
    if vocab.final is not None:
        mapped = (_cut_lines(vocab.final[block], limit) for block in vocab.blocks)
    else:
        index = {**vocab.index, NEWLINE: SEPARATOR}
        mapped = (block_ids(tokens, index, limit) for tokens in token_blocks(config))
    previous = SEPARATOR  # the last id written: no sentence is empty, none starts the file
    with path.open("wb") as fh:
        for ids in mapped:
            if not len(ids):
                continue
            ends = ids == SEPARATOR
            repeated = ends & np.r_[previous == SEPARATOR, ends[:-1]]
            ids = ids[~repeated]
            ids.tofile(fh)
            if len(ids):
                previous = ids[-1]
    return np.memmap(path, dtype=np.int32, mode="r")


# ---------------------------------------------------------------- pairs
def chunks(ids: np.ndarray, chunk_words: int) -> Iterator[np.ndarray]:
    """Consecutive slices of about `chunk_words` ids, each ending after a SEPARATOR."""
    start, n = 0, len(ids)
    while start < n:
        stop = min(n, start + chunk_words)
        if stop < n:
            ends = np.flatnonzero(np.asarray(ids[start:stop]) == SEPARATOR)
            stop = start + int(ends[-1]) + 1 if len(ends) else stop
        yield np.asarray(ids[start:stop])
        start = stop


def make_pairs(chunk: np.ndarray, keep: np.ndarray, window: int, rng: np.random.Generator):
    """(centers, contexts) int32 of one chunk, with no Python loop over words or pairs.

    Words are subsampled (kept with probability `keep[id]`) and removed before windowing,
    then every center word samples its reduced window b in 1..window (word2vec.c's dynamic
    window: nearer words are used more often) and pairs with the words at distance <= b
    within its sentence. Returns the pairs and the number of words in the chunk.
    """
    words = chunk != SEPARATOR
    sentence = np.cumsum(~words)[words]  # sentence index of every word
    ids = chunk[words]
    n_words = len(ids)
    kept = rng.random(n_words) < keep[ids]
    ids, sentence = ids[kept], sentence[kept]
    reach = rng.integers(1, window + 1, size=len(ids))
    centers, contexts = [], []
    for offset in range(1, window + 1):  # a loop over the window, not over words
        same = sentence[offset:] == sentence[:-offset]
        left = np.flatnonzero(same & (reach[:-offset] >= offset))  # center i, context i + offset
        right = np.flatnonzero(same & (reach[offset:] >= offset))  # center i + offset, context i
        centers += [ids[left], ids[right + offset]]
        contexts += [ids[left + offset], ids[right]]
    if not centers:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), n_words
    centers, contexts = np.concatenate(centers), np.concatenate(contexts)
    order = rng.permutation(len(centers))  # mixes the offsets within the chunk
    return centers[order].astype(np.int32), contexts[order].astype(np.int32), n_words

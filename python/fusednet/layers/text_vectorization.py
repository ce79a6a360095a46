"""TextVectorization (Keras 3 ``keras.layers.TextVectorization``) without TensorFlow.

A preprocessing layer: Python strings in, NumPy int64 arrays out. It runs before the model (in
the input pipeline), not on the compiled plan, so it is plain Python over strings; nothing here
is numeric work. Semantics follow Keras's implementation:

* standardize 'lower_and_strip_punctuation' (default) lowercases ASCII letters (``tf.strings.lower``
  without an encoding) and removes the characters of Keras's ``DEFAULT_STRIP_REGEX``;
* split 'whitespace' drops empty pieces, 'character' splits into Unicode code points;
* ngrams ``n`` = widths 1..n, all width-1 grams first, then width 2, ..., joined by a space;
* ``adapt`` counts tokens; the vocabulary is sorted by count (descending), ties by the token's
  UTF-8 bytes (descending): Keras's ``np.lexsort((tokens, counts))[::-1]``; ``max_tokens``
  includes the reserved tokens: ``""`` (0, padding) and ``"[UNK]"`` (1, out of vocabulary) in
  'int' mode, only ``"[UNK]"`` (0) in 'multi_hot' / 'count' mode.
"""
import re
from collections import Counter

import numpy as np

from .base import Layer

__all__ = ["TextVectorization"]

_STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MODES = ("int", "multi_hot", "count")


class TextVectorization(Layer):
    """Map strings to token ids (Keras 3 ``TextVectorization``).

    Args:
        max_tokens: vocabulary size cap, reserved tokens included (None: no cap).
        standardize: 'lower_and_strip_punctuation', 'lower', 'strip_punctuation', None, or a
            callable ``str -> str``.
        split: 'whitespace', 'character', None, or a callable ``str -> list[str]``.
        ngrams: None, an int n (widths 1..n) or a tuple of widths.
        output_mode: 'int' (ids), 'multi_hot' or 'count' ((batch, vocab) vectors).
        output_sequence_length: 'int' mode: pad with 0 / truncate to this length (None: pad to
            the longest row of the batch).
        pad_to_max_tokens: multi_hot/count: output width ``max_tokens`` even if the vocabulary is
            smaller.
        vocabulary: a list of tokens (or a path to a file with one token a line) instead of adapt.

    Shape:
        input: a string, a list / 1-D array of strings, or a ``(batch, 1)`` array of strings;
        output: int64 ``(batch, length)`` ('int') or float32 ``(batch, vocab)``.

    Example:
        >>> tv = fusednet.layers.TextVectorization(max_tokens=5000, output_sequence_length=4)
        >>> tv.adapt(["foo bar", "bar baz", "baz bada boom"])
        >>> tv(["foo qux bar", "qux baz"])
        array([[4, 1, 3, 0],
               [1, 2, 0, 0]])
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
                 vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in _MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {', '.join(_MODES)}, got "
                             f"{output_mode!r} ('tf_idf' is not supported)")
        if standardize not in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation") and \
                not callable(standardize):
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"TextVectorization: unknown split {split!r}")
        if ngrams is not None and not (isinstance(ngrams, int) and ngrams >= 1) and not (
                isinstance(ngrams, tuple) and ngrams and all(isinstance(n, int) and n >= 1 for n in ngrams)):
            raise ValueError(f"TextVectorization: ngrams must be None, an integer, or a tuple of integers, "
                             f"got {ngrams!r}")
        reserved = 2 if output_mode == "int" else 1
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= reserved):
            raise ValueError(f"TextVectorization: max_tokens must be an int > {reserved} (it counts the reserved "
                             f"tokens), got {max_tokens!r}")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("TextVectorization: output_sequence_length is only valid with output_mode='int'")
        if output_sequence_length is not None and (not isinstance(output_sequence_length, int)
                                                   or output_sequence_length <= 0):
            raise ValueError(f"TextVectorization: output_sequence_length must be a positive int, got "
                             f"{output_sequence_length!r}")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.ngrams = ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._reserved = ["", "[UNK]"] if output_mode == "int" else ["[UNK]"]
        self._vocab, self._index = list(self._reserved), {}
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ----------------------------------------------------------------- text -> tokens
    def _standardize(self, s):
        st = self.standardize
        if callable(st):
            return st(s)
        if st in ("lower", "lower_and_strip_punctuation"):
            s = s.translate(_ASCII_LOWER)
        if st in ("strip_punctuation", "lower_and_strip_punctuation"):
            s = _STRIP.sub("", s)
        return s

    def _tokens(self, s):
        s = self._standardize(s)
        sp = self.split
        if sp is None:
            parts = [s]
        elif callable(sp):
            parts = list(sp(s))
        elif sp == "whitespace":
            parts = s.split()
        else:
            parts = list(s)
        if self._widths is None:
            return parts
        out = []
        for n in self._widths:
            out.extend(" ".join(parts[i:i + n]) for i in range(len(parts) - n + 1))
        return out

    @staticmethod
    def _rows(data):
        if isinstance(data, (str, bytes)):
            return [data], True
        a = np.asarray(data, dtype=object)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"TextVectorization: expected a string, a list of strings or a (batch, 1) array, got "
                             f"an array of shape {a.shape}")
        rows = []
        for x in a:
            if isinstance(x, bytes):
                x = x.decode("utf-8")
            if not isinstance(x, str):
                raise TypeError(f"TextVectorization: inputs must be strings, got {type(x).__name__}")
            rows.append(x)
        return rows, False

    # ----------------------------------------------------------------- vocabulary
    def adapt(self, data, batch_size=None, steps=None):
        """Build the vocabulary from ``data`` (strings; any iterable of strings or of batches).

        Args:
            data: a list / array of strings, or an iterable yielding strings or lists of strings.
            batch_size, steps: accepted for Keras compatibility (ignored; all data is read).
        """
        counts = Counter()
        if isinstance(data, (str, bytes, list, tuple, np.ndarray)):
            batches = [data]
        else:
            batches = data
        for batch in batches:
            rows, _ = self._rows(batch)
            for r in rows:
                counts.update(self._tokens(r))
        for t in self._reserved:
            counts.pop(t, None)
        tokens = list(counts)
        if tokens:
            keys = np.array([t.encode("utf-8") for t in tokens], dtype=object)
            cnt = np.array([counts[t] for t in tokens], dtype=np.int64)
            # Keras: np.lexsort((tokens, counts))[::-1]; lexsort cannot sort object arrays, so the
            # byte strings are ranked first (same order).
            rank = np.empty(len(tokens), np.int64)
            rank[sorted(range(len(tokens)), key=lambda i: keys[i])] = np.arange(len(tokens))
            order = np.lexsort((rank, cnt))[::-1]
            tokens = [tokens[i] for i in order]
        if self.max_tokens is not None:
            tokens = tokens[:self.max_tokens - len(self._reserved)]
        self._set(tokens)

    def set_vocabulary(self, vocabulary):
        """Use ``vocabulary`` (list of tokens or a file path, one token a line) as the vocabulary;
        leading reserved tokens ('' and '[UNK]') are accepted and dropped."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [ln.rstrip("\n") for ln in f]
        vocab = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in vocabulary]
        k = len(self._reserved)
        if vocab[:k] == self._reserved:
            vocab = vocab[k:]
        bad = [t for t in vocab if t in self._reserved]
        if bad:
            raise ValueError(f"TextVectorization: reserved token {bad[0]!r} may only appear at the start of the "
                             f"vocabulary")
        if len(set(vocab)) != len(vocab):
            dup = next(t for t in vocab if vocab.count(t) > 1)
            raise ValueError(f"TextVectorization: the vocabulary has a repeated token {dup!r}")
        if self.max_tokens is not None and len(vocab) + k > self.max_tokens:
            raise ValueError(f"TextVectorization: vocabulary of {len(vocab) + k} tokens (reserved included) is "
                             f"larger than max_tokens={self.max_tokens}")
        self._set(vocab)

    def _set(self, tokens):
        self._vocab = list(self._reserved) + list(tokens)
        self._index = {t: i for i, t in enumerate(self._vocab)}

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary, index order (reserved tokens first unless include_special_tokens=False)."""
        return list(self._vocab) if include_special_tokens else self._vocab[len(self._reserved):]

    def vocabulary_size(self):
        """Number of tokens in the vocabulary, reserved ones included."""
        return len(self._vocab)

    # ----------------------------------------------------------------- call
    def __call__(self, inputs, training=None):
        rows, scalar = self._rows(inputs)
        oov = self._index["[UNK]"]
        ids = [[self._index.get(t, oov) for t in self._tokens(r)] for r in rows]
        if self.output_mode == "int":
            L = self.output_sequence_length
            if L is None:
                L = max((len(r) for r in ids), default=0)
            out = np.zeros((len(ids), L), np.int64)
            for i, r in enumerate(ids):
                r = r[:L]
                out[i, :len(r)] = r
        else:
            V = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self._vocab)
            out = np.zeros((len(ids), V), np.float32)
            for i, r in enumerate(ids):
                c = np.bincount(np.asarray(r, np.int64), minlength=V)
                out[i] = c if self.output_mode == "count" else (c > 0)
        return out[0] if scalar else out

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self.max_tokens if self.pad_to_max_tokens else len(self._vocab))

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": self.standardize if not callable(self.standardize) else None,
                "split": self.split if not callable(self.split) else None, "ngrams": self.ngrams,
                "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary": self.get_vocabulary(include_special_tokens=False)}

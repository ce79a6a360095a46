"""``pad_sequences``: ragged lists of sequences -> one padded NumPy array (Keras ``keras.utils``).

Shaped like Keras 3's: the result is ``[num_sequences, maxlen, *feature_shape]``; padding and
truncation happen at the start ('pre', Keras' default, so an RNN reads the real tokens last) or
the end ('post'). The work is one slice copy per sequence (NumPy), not per element.
"""
import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or truncate) a list of sequences to one length.

    Args:
        sequences: list of sequences (lists or arrays); each item may itself be an array of
            features, all items sharing one feature shape.
        maxlen: length of every output row; None pads to the longest sequence.
        dtype: NumPy dtype of the result ('int32' as in Keras; use 'float32' for float data).
        padding: 'pre' or 'post': where the padding goes.
        truncating: 'pre' or 'post': which end of a longer sequence is dropped.
        value: the padding value.

    Returns:
        NumPy array ``[len(sequences), maxlen, *feature_shape]``.

    Raises:
        ValueError: ``sequences`` is not a list of sequences, padding/truncating is not 'pre' or
            'post', maxlen is negative, or the items' feature shapes differ.

    Shape:
        list of N ragged ``[L_i, *F]`` -> ``[N, maxlen, *F]``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], padding="post")
        array([[1, 2, 3],
               [4, 0, 0]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, got {type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r}")
    if maxlen is not None and int(maxlen) < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    rows, feature_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences: sequences[{i}] is not a sequence (got {type(s).__name__})")
        a = np.asarray(s)
        if a.ndim == 0:
            raise ValueError(f"pad_sequences: sequences[{i}] is a scalar, expected a sequence")
        if len(a) and feature_shape is None:
            feature_shape = a.shape[1:]
        elif len(a) and a.shape[1:] != feature_shape:
            raise ValueError(f"pad_sequences: sequences[{i}] has feature shape {a.shape[1:]}, expected "
                             f"{feature_shape} like the earlier sequences")
        rows.append(a)
    feature_shape = feature_shape or ()
    if maxlen is None:
        maxlen = max((len(a) for a in rows), default=0)
    maxlen = int(maxlen)
    out = np.full((len(rows), maxlen) + tuple(feature_shape), value, dtype=dtype)
    for i, a in enumerate(rows):
        if not len(a) or maxlen == 0:
            continue
        t = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, :len(t)] = t
        else:
            out[i, maxlen - len(t):] = t
    return out

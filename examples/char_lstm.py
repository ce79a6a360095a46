"""Character-level LSTM text generator on tinyshakespeare (Keras style).

The vocabulary is the set of characters of the file; the text is cut into windows of
``--seq-len`` + 1 characters (input = the first ``seq-len``, target = the same shifted by one).
The first 90 % of the text trains, the last 10 % validates. Model:
``Embedding(vocab, 64) -> LSTM(256, return_sequences=True) -> Dense(vocab)`` trained with ``fit``
on sparse categorical cross-entropy from logits. After training it prints the loss curve (one line
per epoch, train and validation) and a sample generated step by step: an eager copy of the LSTM
with ``return_state=True`` carries ``(h, c)`` from one character to the next, and
:func:`fusednet.text.sample` draws each character.

    python examples/char_lstm.py [--data PATH] [--epochs 4] [--steps 60] [--seq-len 100]
        [--batch-size 32] [--sample-len 400] [--temperature 0.8] [--top-k K] [--prompt "ROMEO:"]

``--steps`` is the number of training steps per epoch (0 = all windows). PATH defaults to
``<repo>/../shared/data/text/tinyshakespeare.txt`` (from a nested git worktree: the first
``shared/`` up the parents). The defaults run in a few minutes on 2 cores.
"""
import argparse
import os
import time

import numpy as np

import fusednet
from fusednet.layers import LSTM, Dense, Embedding, Input

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT_FILE = os.path.join("shared", "data", "text", "tinyshakespeare.txt")


def default_data_path():
    """``<repo>/../shared/data/text/tinyshakespeare.txt``; from a git worktree nested inside the
    checkout (``<main>/wt/<name>``) the first ``shared/`` found going up the parents.

    Returns:
        The path (the conventional one, even if missing, when none exists).

    Example:
        >>> os.path.basename(default_data_path())
        'tinyshakespeare.txt'
    """
    d = os.path.dirname(os.path.dirname(HERE))             # the repository root's parent
    first = os.path.join(d, TEXT_FILE)
    while True:
        cand = os.path.join(d, TEXT_FILE)
        if os.path.isfile(cand):
            return cand
        up = os.path.dirname(d)
        if up == d:
            return first
        d = up


DEFAULT_DATA = default_data_path()


def load_text(path, limit=None):
    """Read the text file and its character vocabulary.

    Args:
        path: a UTF-8 text file.
        limit: keep only the first ``limit`` characters (None = all).

    Returns:
        ``(ids, chars)``: int64 ids of every character and the sorted vocabulary (a list of str).

    Example:
        >>> ids, chars = load_text(DEFAULT_DATA)
        >>> "".join(chars[i] for i in ids[:5])
        'First'
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if limit:
        text = text[:limit]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    return ids, chars


def split_windows(ids, seq_len, val_fraction=0.1):
    """90/10 split of the id stream, each part cut into non-overlapping windows of ``seq_len + 1``.

    Args:
        ids: int64 ids of the whole text.
        seq_len: characters per input window.
        val_fraction: share of the text (its end) kept for validation.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``: int64 ``[n, seq_len]`` arrays, ``y`` = ``x``
        shifted by one character.

    Example:
        >>> (x, y), (xv, yv) = split_windows(np.arange(1000) % 7, 10)
        >>> x.shape, bool((x[:, 1:] == y[:, :-1]).all())
        ((81, 10), True)
    """
    cut = int(len(ids) * (1.0 - val_fraction))

    def windows(a):
        n = (len(a) - 1) // seq_len
        if n < 1:
            raise ValueError(f"char_lstm: {len(a)} characters do not make one window of {seq_len} + 1")
        x = a[:n * seq_len].reshape(n, seq_len)
        y = a[1:n * seq_len + 1].reshape(n, seq_len)
        return np.ascontiguousarray(x), np.ascontiguousarray(y)

    return windows(ids[:cut]), windows(ids[cut:])


def build_model(vocab, seq_len=None, embed_dim=64, units=256):
    """``Embedding -> LSTM(units, return_sequences=True) -> Dense(vocab)`` (logits).

    Args:
        vocab: number of distinct characters.
        seq_len: window length, or None (default) for any length.
        embed_dim: embedding size.
        units: LSTM units.

    Returns:
        An uncompiled :class:`fusednet.Sequential` mapping ids ``[B, T]`` to logits
        ``[B, T, vocab]``.

    Example:
        >>> model = build_model(65)
    """
    return fusednet.Sequential([
        Input(shape=(seq_len,), dtype="int64"),
        Embedding(vocab, embed_dim, name="embedding"),
        LSTM(units, return_sequences=True, name="lstm"),
        Dense(vocab, name="logits"),
    ])


def generate(model, chars, prompt, length, temperature=0.8, top_k=None, seed=0):
    """Generate ``length`` characters after ``prompt``, one step at a time on the LSTM state.

    The prompt runs through the trained layers once; each new character then costs one
    Embedding row, one LSTM step (``initial_state=[h, c]``, ``return_state=True`` on a copy of
    the trained LSTM) and one Dense row.

    Args:
        model: a model from :func:`build_model` (trained).
        chars: the vocabulary.
        prompt: starting text (its characters must be in the vocabulary; empty = first char).
        length: number of characters to generate.
        temperature, top_k: passed to :func:`fusednet.text.sample`.
        seed: base seed; step ``i`` uses ``seed + i``.

    Returns:
        The generated string (without the prompt), ``length`` characters long.

    Example:
        >>> generate(model, chars, "ROMEO:", 200, temperature=0.8, seed=1)
    """
    index = {c: i for i, c in enumerate(chars)}
    emb, lstm, dense = model.get_layer("embedding"), model.get_layer("lstm"), model.get_layer("logits")
    step = LSTM(lstm.units, activation=lstm.activation, recurrent_activation=lstm.recurrent_activation,
                use_bias=lstm.use_bias, return_sequences=False, return_state=True)
    ids = [index[c] for c in prompt if c in index] or [0]
    with fusednet.no_grad():
        x = emb(np.asarray([ids], np.int64))
        step(x[:, :1])                                    # build, then share the trained weights
        step.set_weights(lstm.get_weights())
        h, hh, cc = step(x)                               # whole prompt in one call
        out = []
        for i in range(length):
            logits = dense(h).numpy()[0]
            nxt = fusednet.text.sample(logits, temperature=temperature, top_k=top_k, seed=seed + i)
            out.append(chars[nxt])
            state = [hh, cc]
            h, hh, cc = step(emb(np.asarray([[nxt]], np.int64)), initial_state=state)
    return "".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--limit", type=int, default=None, help="use only the first N characters of the file")
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps", type=int, default=60, help="training steps per epoch (0 = all windows)")
    p.add_argument("--val-steps", type=int, default=10, help="validation batches per epoch (0 = all)")
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--sample-len", type=int, default=400)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--prompt", default="ROMEO:")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)

    fusednet.random.set_random_seed(args.seed)
    ids, chars = load_text(args.data, args.limit)
    (x_tr, y_tr), (x_va, y_va) = split_windows(ids, args.seq_len)
    print(f"text: {len(ids):,} characters, vocabulary {len(chars)}; windows train {len(x_tr)}, "
          f"validation {len(x_va)} of {args.seq_len}")
    model = build_model(len(chars), None, args.embed_dim, args.units)
    model.compile(optimizer=fusednet.optimizers.Adam(args.lr),
                  loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    t0 = time.perf_counter()
    hist = model.fit(x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs,
                     steps_per_epoch=args.steps or None, validation_data=(x_va, y_va),
                     validation_steps=args.val_steps or None, verbose=args.verbose)
    seconds = time.perf_counter() - t0
    h = hist.history
    print(f"training: {args.epochs} epochs in {seconds:.1f} s")
    print("loss curve (epoch, train loss, validation loss):")
    for e, (lt, lv) in enumerate(zip(h["loss"], h["val_loss"]), 1):
        print(f"  {e:3d}  {lt:.4f}  {lv:.4f}")
    text = generate(model, chars, args.prompt, args.sample_len, args.temperature, args.top_k, args.seed)
    print(f"sample (temperature {args.temperature}, top_k {args.top_k}):\n{args.prompt}{text}")
    return {"loss": h["loss"], "val_loss": h["val_loss"], "sample": text, "model": model, "chars": chars}


if __name__ == "__main__":
    main()

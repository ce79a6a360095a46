"""GPT-mini: a decoder-only transformer on the characters of tinyshakespeare.

4 blocks, 4 heads, d_model 128, context 128 (defaults). Per block (pre-norm):
``LayerNorm -> MultiHeadAttention(use_causal_mask=True) -> Add -> LayerNorm -> Dense(4d, gelu)
-> Dense(d) -> Add``; ``TokenAndPositionEmbedding`` in front, final ``LayerNorm -> Dense(vocab)``
(logits). Trained with ``fit`` and AdamW on sparse categorical cross-entropy from logits over
the next character, on random windows of the first 90 % of the text (the last 10 % validates).
Prints the loss curve and a sample generated token by token on the growing context (its last
``context`` characters, right-padded: the causal mask keeps the padding out of the position
read) with top-k sampling.

    python examples/gpt_mini.py [--data PATH] [--epochs 4] [--steps 40] [--batch-size 16]
        [--context 128] [--layers 4] [--heads 4] [--d-model 128] [--sample-len 300] [--top-k 10]
"""
import argparse
import os
import sys
import time

import numpy as np

import fusednet
from fusednet.layers import (Add, Dense, Input, LayerNormalization, MultiHeadAttention,
                             TokenAndPositionEmbedding)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from char_lstm import DEFAULT_DATA, load_text  # noqa: E402


def random_windows(ids, n, context, seed):
    """``n`` windows at seeded random offsets: inputs ``[n, context]`` and next-char targets.

    Args:
        ids: int64 id stream.
        n: number of windows.
        context: window length.
        seed: NumPy seed of the offsets.

    Returns:
        ``(x, y)`` int64 arrays of shape ``[n, context]``, ``y`` = ``x`` shifted by one.

    Example:
        >>> x, y = random_windows(np.arange(500), 4, 16, seed=0)
        >>> bool((x[:, 1:] == y[:, :-1]).all())
        True
    """
    if len(ids) < context + 1:
        raise ValueError(f"gpt_mini: {len(ids)} characters do not make one window of {context} + 1")
    starts = np.random.default_rng(seed).integers(0, len(ids) - context, size=n)
    idx = starts[:, None] + np.arange(context + 1)[None, :]
    w = ids[idx]
    return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])


def build_model(vocab, context=128, n_layers=4, n_heads=4, d_model=128):
    """The decoder-only transformer as a functional model (ids ``[B, context]`` -> logits).

    Args:
        vocab: vocabulary size.
        context: sequence length (and rows of the position table).
        n_layers: transformer blocks.
        n_heads: attention heads (``key_dim = d_model // n_heads``).
        d_model: width.

    Returns:
        An uncompiled :class:`fusednet.Model`; layer names ``emb``, ``b{i}_ln1``, ``b{i}_attn``,
        ``b{i}_ln2``, ``b{i}_fc``, ``b{i}_proj``, ``ln_f``, ``logits``.

    Example:
        >>> model = build_model(65)
    """
    if d_model % n_heads:
        raise ValueError(f"gpt_mini: d_model {d_model} is not a multiple of n_heads {n_heads}")
    ids = Input(shape=(context,), dtype="int64")
    h = TokenAndPositionEmbedding(vocab, context, d_model, name="emb")(ids)
    for i in range(n_layers):
        a = LayerNormalization(name=f"b{i}_ln1")(h)
        a = MultiHeadAttention(n_heads, d_model // n_heads, name=f"b{i}_attn")(a, a, use_causal_mask=True)
        h = Add()([h, a])
        m = LayerNormalization(name=f"b{i}_ln2")(h)
        m = Dense(4 * d_model, activation="gelu", name=f"b{i}_fc")(m)
        m = Dense(d_model, name=f"b{i}_proj")(m)
        h = Add()([h, m])
    h = LayerNormalization(name="ln_f")(h)
    return fusednet.Model(ids, Dense(vocab, name="logits")(h))


def generate(model, chars, prompt, length, context, temperature=1.0, top_k=10, seed=0):
    """Sample ``length`` characters after ``prompt`` on the growing context.

    Each step runs the model on the last ``context`` characters, right-padded to ``context``
    (causal attention: position ``t`` never sees the padding after it), and samples the logits
    at the last real position with :func:`fusednet.text.sample`.

    Args:
        model: a model from :func:`build_model`.
        chars: the vocabulary.
        prompt: starting text (characters outside the vocabulary are dropped).
        length: characters to generate.
        context: the model's sequence length.
        temperature, top_k: sampling settings.
        seed: base seed; step ``i`` uses ``seed + i``.

    Returns:
        The generated string (without the prompt).

    Example:
        >>> generate(model, chars, "ROMEO:", 200, 128, top_k=10)
    """
    index = {c: i for i, c in enumerate(chars)}
    seq = [index[c] for c in prompt if c in index] or [0]
    out = []
    with fusednet.no_grad():
        for i in range(length):
            ctx = seq[-context:]
            x = np.zeros((1, context), np.int64)
            x[0, :len(ctx)] = ctx
            logits = model(x, training=False).numpy()[0, len(ctx) - 1]
            nxt = fusednet.text.sample(logits, temperature=temperature, top_k=top_k, seed=seed + i)
            seq.append(nxt)
            out.append(chars[nxt])
    return "".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--limit", type=int, default=None, help="use only the first N characters of the file")
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--steps", type=int, default=40, help="training steps per epoch")
    p.add_argument("--val-batches", type=int, default=8, help="validation windows = this x batch size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.004)
    p.add_argument("--sample-len", type=int, default=300)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--prompt", default="ROMEO:")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)

    fusednet.random.set_random_seed(args.seed)
    ids, chars = load_text(args.data, args.limit)
    cut = int(len(ids) * 0.9)
    n = args.epochs * args.steps * args.batch_size
    x_tr, y_tr = random_windows(ids[:cut], n, args.context, args.seed)
    x_va, y_va = random_windows(ids[cut:], args.val_batches * args.batch_size, args.context, args.seed + 1)
    print(f"text: {len(ids):,} characters, vocabulary {len(chars)}; {args.epochs} x {args.steps} steps of "
          f"{args.batch_size} x {args.context} tokens; validation {len(x_va)} windows")
    model = build_model(len(chars), args.context, args.layers, args.heads, args.d_model)
    model.compile(optimizer=fusednet.optimizers.AdamW(args.lr, weight_decay=args.weight_decay),
                  loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    print(f"parameters: {model.count_params():,}")
    t0 = time.perf_counter()
    # a pool of epochs x steps x batch random windows; each epoch draws `steps` batches of it
    hist = model.fit(x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps,
                     validation_data=(x_va, y_va), verbose=args.verbose)
    seconds = time.perf_counter() - t0
    h = hist.history
    tokens = args.epochs * args.steps * args.batch_size * args.context
    print(f"training: {args.epochs * args.steps} steps in {seconds:.1f} s ({tokens / seconds:,.0f} tokens/s "
          f"including validation)")
    print("loss curve (epoch, train loss, validation loss):")
    for e, (lt, lv) in enumerate(zip(h["loss"], h["val_loss"]), 1):
        print(f"  {e:3d}  {lt:.4f}  {lv:.4f}")
    text = generate(model, chars, args.prompt, args.sample_len, args.context, args.temperature, args.top_k,
                    args.seed)
    print(f"sample (temperature {args.temperature}, top_k {args.top_k}):\n{args.prompt}{text}")
    return {"loss": h["loss"], "val_loss": h["val_loss"], "sample": text, "model": model, "chars": chars}


if __name__ == "__main__":
    main()

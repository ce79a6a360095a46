"""One LSTM training step, fusednet vs torch.nn.LSTM (CPU), measured side by side in one run.

Shape (issue 12): LSTM(256) on x [32, 100, 128], Keras default return_sequences=False: the step
is the forward over all 100 steps plus the backward through time from a gradient on the last
state, with dX (the input needs a gradient, as behind an Embedding) and dW, dR, db. fusednet runs
it through the layer protocol (LSTM.forward / LSTM.backward: one native call each); torch runs
nn.LSTM(batch_first=True) forward + backward(h_n). Also timed: GRU(256) the same way.
Timings are medians of interleaved repetitions (ours, torch, ours, ...), so drift on the shared
machine hits both sides alike. Target: ours >= 1.5x torch.

Run: PYTHONPATH=python python3 bench/bench_seq.py [--reps 9] [--threads N] [--kind lstm gru] [--cpu-time]
        [--models layer char_lstm gpt_mini] [--lstm-steps 200] [--gpt-steps 200] [--chunk 10] ...
On a loaded machine (load average > cores) 2-thread wall times are dominated by descheduling on
both sides (torch's OpenMP barriers worst of all); --threads 1 --cpu-time is the like-for-like ratio.

Whole models (--models char_lstm gpt_mini): the two text examples
(examples/char_lstm.py, examples/gpt_mini.py) against PyTorch twins with the same architecture,
the same initial weights (copied from fusednet), the same batches in the same order and the same
optimizer: validation losses after the same steps (target |diff| <= 0.05) and training throughput
(char LSTM steps/s; GPT-mini tokens/s vs eager PyTorch with scaled_dot_product_attention, target
>= 2x), medians over chunks of steps.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import fusednet
from fusednet.layers import GRU, LSTM
from fusednet.layers.base import Context

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import char_lstm  # noqa: E402
import gpt_mini  # noqa: E402

CLOCK = time.perf_counter


def machine():
    """'model name' from lscpu and whether the CPU has AVX-512F."""
    name = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    avx512 = False
    try:
        with open("/proc/cpuinfo") as f:
            avx512 = " avx512f" in f.read()
    except OSError:
        pass
    return name, avx512


def steps(kind, B, T, F, U, rng):
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    dh = rng.standard_normal((B, U)).astype(np.float32)
    layer = (LSTM if kind == "lstm" else GRU)(U)
    layer(x[:1])                                    # build
    xa, dha = fusednet.asarray(x), fusednet.asarray(dh)

    def ours():
        ctx = Context()
        layer.forward(ctx, xa, True)
        return layer.backward(ctx, dha, True)

    m = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    xt = torch.tensor(x, requires_grad=True)
    dht = torch.tensor(dh)

    def theirs():
        m.zero_grad(set_to_none=True)
        xt.grad = None
        _, state = m(xt)
        h = state[0] if kind == "lstm" else state
        h[0].backward(dht)

    return ours, theirs


def bench_pair(ours, theirs, reps, clock=CLOCK):
    for _ in range(2):          # warm-up: allocator caches, thread pools
        ours(), theirs()
    a, b = [], []
    for _ in range(reps):
        t = clock()
        ours()
        a.append(clock() - t)
        t = clock()
        theirs()
        b.append(clock() - t)
    return statistics.median(a), statistics.median(b)


# ---------------------------------------------------------------------------------------------
# Whole models: the text examples against PyTorch twins
#
# Weight conversion, fusednet (Keras layout) -> torch:
#   Embedding [V, D]                -> nn.Embedding.weight as is.
#   Dense kernel [in, out], bias    -> nn.Linear.weight = kernel.T, bias as is.
#   LSTM kernel [F, 4U], recurrent_kernel [U, 4U], bias [4U]: Keras gate blocks are (i, f, c, o)
#       along the 4U axis, torch's (i, f, g, o): the same order (c = g, the cell candidate), so
#       weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T, bias_ih_l0 = bias and
#       bias_hh_l0 = 0, frozen (Keras has one bias; torch adds two, and two trained copies of the
#       same gradient would move the bias twice as fast).
#   LayerNormalization gamma, beta  -> nn.LayerNorm.weight, bias; eps = Keras's 1e-3.
#   MultiHeadAttention query/key/value kernel [d, H, k] -> reshape [d, H*k], transpose -> Linear
#       [H*k, d] (head h = output rows h*k..h*k+k-1, the torch .view(B, T, H, k) split); biases
#       [H, k] -> [H*k]; attention_output kernel [H, v, d] -> reshape [H*v, d], transpose.
#   TokenAndPositionEmbedding token [V, D], position [T, D] -> nn.Embedding, nn.Parameter.
#   Dense(activation="gelu") is the exact erf GELU (Keras 3 approximate=False) = F.gelu default.
# Optimizers: fusednet Adam / AdamW (Keras formulas, epsilon 1e-7) vs torch.optim.Adam / AdamW
# with the same weight_decay (decoupled, applied to every variable in both). Keras folds the bias
# corrections into the step size, lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), which is
# torch's formula with eps_t = eps / sqrt(1 - b2^t): train_twins sets that eps before every torch
# step (with a constant eps the two differ by up to ~lr per step on weights whose gradients are
# ~1e-6, e.g. the small initial LSTM gradients).
# ---------------------------------------------------------------------------------------------
nn, F_ = torch.nn, torch.nn.functional


def _t(a):
    return torch.tensor(np.ascontiguousarray(a), dtype=torch.float32)


class TorchCharLSTM(nn.Module):
    """Embedding -> LSTM(batch_first) -> Linear: the twin of char_lstm.build_model."""

    def __init__(self, vocab, embed_dim, units):
        super().__init__()
        self.emb = nn.Embedding(vocab, embed_dim)
        self.lstm = nn.LSTM(embed_dim, units, batch_first=True)
        self.lstm.bias_hh_l0.requires_grad_(False)   # stays 0: one bias, as Keras (else it learns twice as fast)
        self.fc = nn.Linear(units, vocab)

    def forward(self, x):
        return self.fc(self.lstm(self.emb(x))[0])

    @torch.no_grad()
    def copy_from(self, model):
        self.emb.weight.copy_(_t(model.get_layer("embedding").get_weights()[0]))
        k, r, b = model.get_layer("lstm").get_weights()
        self.lstm.weight_ih_l0.copy_(_t(k.T))
        self.lstm.weight_hh_l0.copy_(_t(r.T))
        self.lstm.bias_ih_l0.copy_(_t(b))
        self.lstm.bias_hh_l0.zero_()
        _copy_dense(self.fc, model.get_layer("logits"))


def _copy_dense(lin, layer):
    k, b = layer.get_weights()
    lin.weight.copy_(_t(k.T))
    lin.bias.copy_(_t(b))


class TorchBlock(nn.Module):
    """Pre-norm block: LN -> causal MHA (scaled_dot_product_attention) -> add -> LN -> MLP -> add."""

    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-3), nn.LayerNorm(d, eps=1e-3)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, d = x.shape
        a = self.ln1(x)
        q, k, v = (m(a).view(B, T, self.h, d // self.h).transpose(1, 2) for m in (self.q, self.k, self.v))
        o = F_.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(o.transpose(1, 2).reshape(B, T, d))
        return x + self.proj(F_.gelu(self.fc(self.ln2(x))))

    @torch.no_grad()
    def copy_from(self, model, i):
        for ln, nm in ((self.ln1, f"b{i}_ln1"), (self.ln2, f"b{i}_ln2")):
            g, b = model.get_layer(nm).get_weights()
            ln.weight.copy_(_t(g))
            ln.bias.copy_(_t(b))
        w = model.get_layer(f"b{i}_attn").get_weights()   # q k, q b, k k, k b, v k, v b, o k, o b
        for lin, (k, b) in zip((self.q, self.k, self.v), ((w[0], w[1]), (w[2], w[3]), (w[4], w[5]))):
            lin.weight.copy_(_t(k.reshape(k.shape[0], -1).T))
            lin.bias.copy_(_t(b.reshape(-1)))
        self.o.weight.copy_(_t(w[6].reshape(-1, w[6].shape[-1]).T))
        self.o.bias.copy_(_t(w[7]))
        _copy_dense(self.fc, model.get_layer(f"b{i}_fc"))
        _copy_dense(self.proj, model.get_layer(f"b{i}_proj"))


class TorchGPT(nn.Module):
    """Token + position embedding, blocks, final LN, Linear: the twin of gpt_mini.build_model."""

    def __init__(self, vocab, context, n_layers, heads, d):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(context, d))
        self.blocks = nn.ModuleList(TorchBlock(d, heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-3)
        self.head = nn.Linear(d, vocab)

    def forward(self, x):
        h = self.tok(x) + self.pos[:x.shape[1]]
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln_f(h))

    @torch.no_grad()
    def copy_from(self, model):
        tok, pos = model.get_layer("emb").get_weights()
        self.tok.weight.copy_(_t(tok))
        self.pos.copy_(_t(pos))
        for i, b in enumerate(self.blocks):
            b.copy_from(model, i)
        g, b = model.get_layer("ln_f").get_weights()
        self.ln_f.weight.copy_(_t(g))
        self.ln_f.bias.copy_(_t(b))
        _copy_dense(self.head, model.get_layer("logits"))


def torch_loss(tm, x, y, batch):
    """Mean next-token cross-entropy of the torch twin over (x, y), in batches (no grad)."""
    tm.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            xb, yb = torch.from_numpy(x[s:s + batch]), torch.from_numpy(y[s:s + batch])
            lg = tm(xb)
            tot += float(F_.cross_entropy(lg.reshape(-1, lg.shape[-1]), yb.reshape(-1), reduction="sum"))
            n += yb.numel()
    tm.train()
    return tot / n


def keras_eps_(topt, eps=1e-7):
    """Set torch Adam/AdamW's eps for its next step so that it takes Keras's step (see the top)."""
    for g in topt.param_groups:
        t = 1 + max((int(topt.state[p]["step"]) for p in g["params"] if p in topt.state), default=0)
        g["eps"] = eps / np.sqrt(1.0 - g["betas"][1] ** t)


def train_twins(fm, tm, topt, x, y, batch, chunk, clock):
    """Train both on the same batches in order, ``chunk`` steps at a time, interleaved (fusednet
    chunk, torch chunk, ...). Returns the per-chunk seconds of each, the first chunk (warm-up:
    plans, allocator, thread pools) left out."""
    steps = len(x) // batch
    ta, tb = [], []
    for c0 in range(0, steps, chunk):
        sl = slice(c0 * batch, min(c0 + chunk, steps) * batch)
        t = clock()
        fm.fit(x[sl], y[sl], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        ta.append(clock() - t)
        xs, ys = torch.from_numpy(x[sl]), torch.from_numpy(y[sl])
        t = clock()
        for s in range(0, len(xs), batch):
            keras_eps_(topt)
            topt.zero_grad(set_to_none=True)
            lg = tm(xs[s:s + batch])
            F_.cross_entropy(lg.reshape(-1, lg.shape[-1]), ys[s:s + batch].reshape(-1)).backward()
            topt.step()
        tb.append(clock() - t)
    return (ta[1:] or ta), (tb[1:] or tb)


def _report(title, fm, tm, xv, yv, batch, v0, ta, tb, chunk, tokens_per_step):
    vf = fm.evaluate(xv, yv, batch_size=batch, verbose=0)
    vt = torch_loss(tm, xv, yv, batch)
    a, b = statistics.median(ta), statistics.median(tb)
    sa, sb = chunk / a, chunk / b
    print(f"{title}: initial validation loss fusednet {v0[0]:.5f}, torch {v0[1]:.5f} (weights copied)")
    print(f"{title}: validation loss after training: fusednet {vf:.4f}, torch {vt:.4f}, |diff| {abs(vf - vt):.4f} "
          f"({'within' if abs(vf - vt) <= 0.05 else 'NOT within'} 0.05)")
    print(f"{title}: training steps/s fusednet {sa:.2f}, torch {sb:.2f}; tokens/s fusednet "
          f"{sa * tokens_per_step:,.0f}, torch {sb * tokens_per_step:,.0f}; ratio {sa / sb:.2f}x "
          f"(median of {len(ta)} chunks of {chunk} steps)")
    return {"val": (vf, vt), "steps_per_s": (sa, sb), "ratio": sa / sb}


def bench_char_lstm(args, ids, V, clock):
    B, T = args.lstm_batch, args.lstm_seq_len
    (xw, yw), (xv, yv) = char_lstm.split_windows(ids, T)
    order = np.random.default_rng(1).permutation(len(xw))
    n = args.lstm_steps * B
    order = np.concatenate([order] * (n // len(order) + 1))[:n]      # epochs of shuffled windows
    x, y = xw[order], yw[order]
    xv, yv = xv[:args.val_windows], yv[:args.val_windows]
    fusednet.random.set_random_seed(0)
    fm = char_lstm.build_model(V, T, args.lstm_embed, args.lstm_units)
    fm.compile(optimizer=fusednet.optimizers.Adam(args.lstm_lr),
               loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    tm = TorchCharLSTM(V, args.lstm_embed, args.lstm_units)
    tm.copy_from(fm)
    topt = torch.optim.Adam([p for p in tm.parameters() if p.requires_grad], lr=args.lstm_lr, eps=1e-7)
    v0 = fm.evaluate(xv, yv, batch_size=B, verbose=0), torch_loss(tm, xv, yv, B)
    print(f"char LSTM: Embedding({V}, {args.lstm_embed}) -> LSTM({args.lstm_units}) -> Dense({V}); batch {B} x "
          f"{T}; {args.lstm_steps} steps of Adam({args.lstm_lr}); validation {len(xv)} windows")
    ta, tb = train_twins(fm, tm, topt, x, y, B, args.chunk, clock)
    return _report("char LSTM", fm, tm, xv, yv, B, v0, ta, tb, args.chunk, B * T)


def bench_gpt(args, ids, V, clock):
    B, T = args.gpt_batch, args.context
    cut = int(len(ids) * 0.9)
    x, y = gpt_mini.random_windows(ids[:cut], args.gpt_steps * B, T, seed=1)
    xv, yv = gpt_mini.random_windows(ids[cut:], args.val_windows, T, seed=2)
    fusednet.random.set_random_seed(0)
    fm = gpt_mini.build_model(V, T, args.gpt_layers, args.gpt_heads, args.d_model)
    fm.compile(optimizer=fusednet.optimizers.AdamW(args.gpt_lr, weight_decay=args.weight_decay),
               loss=fusednet.losses.SparseCategoricalCrossentropy(from_logits=True))
    tm = TorchGPT(V, T, args.gpt_layers, args.gpt_heads, args.d_model)
    tm.copy_from(fm)
    topt = torch.optim.AdamW(tm.parameters(), lr=args.gpt_lr, eps=1e-7, weight_decay=args.weight_decay)
    v0 = fm.evaluate(xv, yv, batch_size=B, verbose=0), torch_loss(tm, xv, yv, B)
    print(f"GPT-mini: {args.gpt_layers} layers, {args.gpt_heads} heads, d_model {args.d_model}, context {T}, "
          f"{fm.count_params():,} parameters; batch {B}; {args.gpt_steps} steps of AdamW({args.gpt_lr}, "
          f"weight_decay {args.weight_decay}); validation {len(xv)} windows")
    ta, tb = train_twins(fm, tm, topt, x, y, B, args.chunk, clock)
    return _report("GPT-mini", fm, tm, xv, yv, B, v0, ta, tb, args.chunk, B * T)


def add_model_args(ap):
    """Options of the whole-model comparisons."""
    ap.add_argument("--data", default=char_lstm.DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="first N characters of the text only")
    ap.add_argument("--chunk", type=int, default=10, help="steps per timed chunk")
    ap.add_argument("--val-windows", type=int, default=256)
    ap.add_argument("--lstm-steps", type=int, default=200)
    ap.add_argument("--lstm-batch", type=int, default=32)
    ap.add_argument("--lstm-seq-len", type=int, default=100)
    ap.add_argument("--lstm-embed", type=int, default=64)
    ap.add_argument("--lstm-units", type=int, default=256)
    ap.add_argument("--lstm-lr", type=float, default=2e-3)
    ap.add_argument("--gpt-steps", type=int, default=200)
    ap.add_argument("--gpt-batch", type=int, default=16)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--gpt-layers", type=int, default=4)
    ap.add_argument("--gpt-heads", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--gpt-lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.004)


def run_models(args, clock):
    """Run the requested whole-model comparisons; returns {name: results}."""
    todo = [m for m in args.models if m != "layer"]
    if not todo:
        return {}
    ids, chars = char_lstm.load_text(args.data, args.limit)
    print(f"text: {args.data} ({len(ids):,} characters, vocabulary {len(chars)}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {'process CPU time' if clock is time.process_time else 'wall time'}")
    torch.manual_seed(0)
    out = {}
    if "char_lstm" in todo:
        out["char_lstm"] = bench_char_lstm(args, ids, len(chars), clock)
    if "gpt_mini" in todo:
        out["gpt_mini"] = bench_gpt(args, ids, len(chars), clock)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: ours)")
    ap.add_argument("--kind", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    ap.add_argument("--cpu-time", action="store_true",
                    help="time process CPU seconds instead of wall time (use with --threads 1 on a loaded machine)")
    ap.add_argument("--shape", type=int, nargs=4, default=[32, 100, 128, 256], metavar=("B", "T", "F", "U"))
    ap.add_argument("--models", nargs="*", default=["layer", "char_lstm", "gpt_mini"],
                    choices=["layer", "char_lstm", "gpt_mini"],
                    help="'layer': one LSTM/GRU step (above); char_lstm / gpt_mini: the examples vs PyTorch twins")
    add_model_args(ap)
    args = ap.parse_args()
    if args.threads:
        fusednet.set_num_threads(args.threads)
    nt = fusednet.get_num_threads()
    torch.set_num_threads(nt)
    name, avx512 = machine()
    print(f"machine: {name}; AVX-512: {'yes' if avx512 else 'no'}; threads: fusednet {nt}, torch "
          f"{torch.get_num_threads()}; torch {torch.__version__}; fusednet ISA {fusednet._C.cpu_isa()}")
    if "layer" in args.models:
        bench_layers(args)
    run_models(args, time.process_time if args.cpu_time else CLOCK)


def bench_layers(args):
    B, T, F, U = args.shape
    rng = np.random.default_rng(0)
    print(f"one training step (forward + backward through time, dX included), x [{B}, {T}, {F}], units {U}, "
          f"median of {args.reps} ({'process CPU time' if args.cpu_time else 'wall time'}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'layer':<10}{'fusednet ms':>14}{'torch ms':>12}{'ratio':>9}")
    for kind in args.kind:
        ours, theirs = steps(kind, B, T, F, U, rng)
        a, b = bench_pair(ours, theirs, args.reps, time.process_time if args.cpu_time else CLOCK)
        print(f"{kind.upper() + f'({U})':<10}{a * 1e3:>14.2f}{b * 1e3:>12.2f}{b / a:>8.2f}x")


if __name__ == "__main__":
    main()

"""RNN state (issue 12): seq2seq training with states between layers, and step-wise generation.

1. seq2seq: the Keras guide's encoder-decoder (encoder LSTM(U) return_state -> decoder
   LSTM(U, return_sequences=True, initial_state=encoder states) -> Dense(V) softmax), one-hot
   tokens, one ``train_on_batch`` (Adam) per step, fusednet's compiled plan vs a PyTorch twin
   (nn.LSTM encoder, (h, c) into nn.LSTM decoder, Linear, cross-entropy, Adam) with the same
   weights. Median over interleaved repetitions (ours, torch, ours, ...).
2. generation: ``--gen-steps`` characters after a 100-character prompt with the char LSTM of
   examples/char_lstm.py (Embedding(65, 64) -> LSTM(256) -> Dense(65)), three ways in fusednet:
   the example's eager step on an explicit state (``initial_state`` + ``return_state``), a
   ``stateful=True`` twin called eagerly (``model(ids)``) one step at a time, and re-running the
   whole prefix every step (what a stateless model without state outputs must do). Greedy
   (argmax) so all three produce the same text (checked).

Run: PYTHONPATH=python python3 bench/bench_rnn_state.py [--reps 7] [--batch 64] [--units 256]
        [--threads N] [--cpu-time] [--only seq2seq|generation]
The machine may be shared and loaded: ratios from one run side by side, medians.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import fusednet
from fusednet.layers import LSTM, Dense, Embedding, Input

CLOCK = time.perf_counter


def seq2seq(args):
    import torch
    U, V, Te, Td, B = args.units, args.tokens, args.enc_len, args.dec_len, args.batch
    enc_in, dec_in = fusednet.Input((None, V)), fusednet.Input((None, V))
    _, h, c = LSTM(U, return_state=True, name="enc")(enc_in)
    y = LSTM(U, return_sequences=True, name="dec")(dec_in, initial_state=[h, c])
    model = fusednet.Model([enc_in, dec_in], Dense(V, activation="softmax", name="out")(y))
    model.compile(fusednet.optimizers.Adam(1e-3), "categorical_crossentropy")
    rng = np.random.default_rng(0)
    xe = np.eye(V, dtype=np.float32)[rng.integers(0, V, (B, Te))]
    xd = np.eye(V, dtype=np.float32)[rng.integers(0, V, (B, Td))]
    yt_ids = rng.integers(0, V, (B, Td))
    yt = np.eye(V, dtype=np.float32)[yt_ids]

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.LSTM(V, U, batch_first=True)
            self.dec = torch.nn.LSTM(V, U, batch_first=True)
            self.out = torch.nn.Linear(U, V)

        def forward(self, a, b):
            _, st = self.enc(a)
            y, _ = self.dec(b, st)
            return self.out(y)
    tw = Twin()
    with torch.no_grad():     # Keras layout -> torch: W_ih = kernel.T, W_hh = recurrent.T, bias in b_ih
        for name, mod in (("enc", tw.enc), ("dec", tw.dec)):
            k, r, b = model.get_layer(name).get_weights()
            mod.weight_ih_l0.copy_(torch.from_numpy(k.T.copy()))
            mod.weight_hh_l0.copy_(torch.from_numpy(r.T.copy()))
            mod.bias_ih_l0.copy_(torch.from_numpy(b))
            mod.bias_hh_l0.zero_()
        k, b = model.get_layer("out").get_weights()
        tw.out.weight.copy_(torch.from_numpy(k.T.copy()))
        tw.out.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.Adam(tw.parameters(), lr=1e-3, eps=1e-7)
    te, td, ty = torch.from_numpy(xe), torch.from_numpy(xd), torch.from_numpy(yt_ids.reshape(-1))

    def ours():
        return float(model.train_on_batch([xe, xd], yt))

    def theirs():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tw(te, td).reshape(-1, V), ty)
        loss.backward()
        opt.step()
        return loss.item()
    l0, t0 = ours(), theirs()      # first steps: same weights, same loss
    print(f"seq2seq first-step loss: fusednet {l0:.6f}  torch {t0:.6f}")
    to, tt = [], []
    for _ in range(args.reps):
        s = CLOCK()
        ours()
        to.append(CLOCK() - s)
        s = CLOCK()
        theirs()
        tt.append(CLOCK() - s)
    mo, mt = statistics.median(to), statistics.median(tt)
    print(f"seq2seq train step B={B} Te={Te} Td={Td} V={V} U={U}: fusednet {mo * 1e3:.2f} ms, torch "
          f"{mt * 1e3:.2f} ms, ratio {mt / mo:.2f}x")


def generation(args):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    import char_lstm
    V, n = 65, args.gen_steps
    model = char_lstm.build_model(V)
    model(np.zeros((1, 2), np.int64))
    stateful = fusednet.Sequential([Input((None,), batch_size=1, dtype="int64"), Embedding(V, 64),
                                    LSTM(256, return_sequences=False, stateful=True), Dense(V)])
    stateful.set_weights(model.get_weights())
    prompt = np.random.default_rng(1).integers(0, V, 100).tolist()
    emb, lstm, dense = model.get_layer("embedding"), model.get_layer("lstm"), model.get_layer("logits")
    step = LSTM(256, return_state=True)
    step(np.zeros((1, 1, 64), np.float32))
    step.set_weights(lstm.get_weights())

    def explicit():
        with fusednet.no_grad():
            h, hh, cc = step(emb(np.asarray([prompt], np.int64)))
            out = []
            for _ in range(n):
                nxt = int(np.argmax(dense(h).numpy()[0]))
                out.append(nxt)
                h, hh, cc = step(emb(np.asarray([[nxt]], np.int64)), initial_state=[hh, cc])
        return out

    def carried():
        stateful.reset_states()
        with fusednet.no_grad():
            logits = stateful(np.asarray([prompt], np.int64))
            out = []
            for _ in range(n):
                nxt = int(np.argmax(logits.numpy()[0]))
                out.append(nxt)
                logits = stateful(np.asarray([[nxt]], np.int64))
        return out

    def rerun():
        ids = list(prompt)
        with fusednet.no_grad():
            for _ in range(n):
                ids.append(int(np.argmax(model(np.asarray([ids], np.int64)).numpy()[0, -1])))
        return ids[len(prompt):]
    a, b, c = explicit(), carried(), rerun()
    assert a == b == c, "the three generation paths disagree"
    times = {"explicit state (example)": [], "stateful": [], "re-run prefix": []}
    for _ in range(args.reps):
        for k, f in zip(times, (explicit, carried, rerun)):
            s = CLOCK()
            f()
            times[k].append(CLOCK() - s)
    base = statistics.median(times["re-run prefix"])
    for k, v in times.items():
        m = statistics.median(v)
        print(f"generate {n} chars after a 100-char prompt, {k}: {m * 1e3:.1f} ms ({base / m:.2f}x vs re-run)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--enc-len", type=int, default=20)
    p.add_argument("--dec-len", type=int, default=20)
    p.add_argument("--gen-steps", type=int, default=100)
    p.add_argument("--only", choices=["seq2seq", "generation"], default=None)
    p.add_argument("--threads", type=int, default=None, help="threads for both libraries (default: ours)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time process CPU seconds instead of wall time (with --threads 1 on a loaded machine)")
    args = p.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    import torch
    if args.threads:
        fusednet.set_num_threads(args.threads)
    torch.set_num_threads(fusednet.get_num_threads())
    print(f"threads: fusednet {fusednet.get_num_threads()}, torch {torch.get_num_threads()}; "
          f"{'CPU' if args.cpu_time else 'wall'} time; os.cpu_count()={os.cpu_count()}; load average "
          f"{os.getloadavg()[0]:.1f} (shared machine: noisy)")
    if args.only in (None, "seq2seq"):
        seq2seq(args)
    if args.only in (None, "generation"):
        generation(args)


if __name__ == "__main__":
    main()

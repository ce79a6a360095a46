#!/usr/bin/env python3
"""Run real Keras guides (keras-io ``guides/*.py``) with ``keras`` mapped to fusednet, and count
the top-level statements that ran.

The guides are not part of this project: point the tool at a local checkout of keras-io (or of
the keras repo, whose ``guides/`` holds the core ones)::

    git clone --depth 1 https://github.com/keras-team/keras-io
    PYTHONPATH=python python3 tools/run_keras_guides.py keras-io/guides
    PYTHONPATH=python python3 tools/run_keras_guides.py keras-io/guides --backend keras   # reference

How a guide is run (one subprocess per guide, a wall-clock timeout each):

* ``import keras`` / ``from keras import layers`` / ``keras.ops`` ... resolve to fusednet through a
  ``sys.meta_path`` finder (``keras.X.Y`` -> ``fusednet.X.Y``, else attribute ``Y`` of
  ``fusednet.X``). ``--backend keras`` runs real Keras 3 (``KERAS_BACKEND=torch``) through the same
  harness, so the two figures are comparable on this machine.
* No network: ``keras.utils.get_file`` and dataset loaders other than MNIST raise ``NeedsData``;
  fusednet's missing-pretrained-weights error ("does not download") counts the same way.
  MNIST is served from the shared IDX test split (``../shared/data/mnist``, or ``--mnist DIR``):
  10,000 test images tiled to the 60,000-image training shape, so shapes match the guide; the
  numbers learnt are meaningless, only whether the code runs is measured.
* The guide's top-level statements (``ast``) run one at a time in one namespace; a statement that
  raises is counted and the next one runs. Prose (bare string statements) is not counted.
* ``Model.fit`` is capped to ``--epochs`` epochs and ``--steps`` steps per epoch (and validation
  steps) so a guide takes seconds; a statement running past ``--stmt-timeout`` counts as failed.
* A failure is classed: ``tf/jax`` (the statement uses TensorFlow/JAX/tfds, not installed and not
  Keras), ``needs data`` (a download), ``cascade`` (NameError of a name whose defining statement
  failed; a name left unbound by a tf/jax or needs-data failure inherits that class), else
  ``api`` -- a gap or difference of the backend under test. Guides built on TF/JAX-only APIs
  (``*_tensorflow``, ``*_jax``, distribution) are skipped and listed with the reason.

Prints one row per guide and the overall percentage; ``--json FILE`` writes every failure.
"""
import argparse
import ast
import importlib
import importlib.abc
import importlib.util
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
SKIP_RULES = [  # (regex on the guide's file name, reason)
    (r"_jax$|^distributed_training_with_jax$", "JAX-only: jax.grad/jit/sharding train steps"),
    (r"_tensorflow$", "TF-only: tf.GradientTape/tf.function/tf.distribute"),
    (r"^distributed_training_with_torch$", "multi-process torch.distributed (DDP) launch"),
    (r"^distribution$|^keras_nnx_guide$|^define_custom_kernel$", "JAX-only (keras.distribution / NNX / Pallas)"),
    (r"quantization", "quantization guides: KerasHub models (downloads) and TF/JAX paths"),
    (r"^intro_to_keras_for_researchers$", "TF-only: tf.GradientTape/tf.function throughout"),
    (r"^distributed_training$", "TF-only: tf.distribute.MirroredStrategy"),
    (r"^litert_export$", "TF-only: LiteRT/TFLite export"),
]
FOREIGN = re.compile(r"\b(tf|tf_data|tfds|tensorflow|jax|jnp|tensorflow_datasets)\b")


class NeedsData(RuntimeError):
    """A guide asked for a download: this harness has no network."""


# ----------------------------------------------------------------------------------- the shim
class _KerasToFusednet(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``keras[.X[.Y]]`` -> the fusednet module (or attribute) of the same path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "keras" or fullname.startswith("keras."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return self._resolve(spec.name)

    def exec_module(self, module):
        pass

    @staticmethod
    def _resolve(fullname):
        parts = fullname.split(".")[1:]
        target = "fusednet" + "".join("." + p for p in parts)
        try:
            return importlib.import_module(target)
        except ImportError:
            pass
        obj = importlib.import_module("fusednet")
        for p in parts:  # e.g. keras.optimizers.schedules is an attribute alias
            if not hasattr(obj, p):
                raise ModuleNotFoundError(f"No module named {fullname!r} (fusednet has no {p!r})")
            obj = getattr(obj, p)
        return obj


def _mnist_loader(mnist_dir):
    import numpy as np

    def load_data(path=None, *args, **kwargs):
        import fusednet
        (x, y) = fusednet.datasets.mnist.load_test(path=str(mnist_dir), download=False)
        x, y = np.asarray(x), np.asarray(y)
        return (np.tile(x, (6, 1, 1)), np.tile(y, 6)), (x, y)
    return load_data


def _needs_data(what):
    def loader(*args, **kwargs):
        raise NeedsData(f"{what}: needs a download (no network in this harness)")
    return loader


def _cap_fit(model_cls, epochs_cap, steps_cap):
    orig = model_cls.fit

    def fit(self, *args, **kwargs):
        names = ["x", "y", "batch_size", "epochs"]
        for i, a in enumerate(args[:4]):
            kwargs[names[i]] = a
        args = ()
        start = int(kwargs.get("initial_epoch", 0) or 0)
        kwargs["epochs"] = min(int(kwargs.get("epochs", 1) or 1), start + epochs_cap)
        s = kwargs.get("steps_per_epoch")
        kwargs["steps_per_epoch"] = steps_cap if s is None else min(int(s), steps_cap)
        if kwargs.get("validation_data") is not None or kwargs.get("validation_split"):
            v = kwargs.get("validation_steps")
            kwargs["validation_steps"] = steps_cap if v is None else min(int(v), steps_cap)
        return orig(self, **kwargs)
    model_cls.fit = fit


def install(backend, mnist_dir, epochs_cap, steps_cap):
    """Map ``keras`` to the chosen backend, cut the network, cap ``fit``; returns the module."""
    if backend == "fusednet":
        sys.meta_path.insert(0, _KerasToFusednet())
        import fusednet as keras
    else:
        os.environ["KERAS_BACKEND"] = "torch"
        import keras
    ds = importlib.import_module("keras.datasets")
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
                 "california_housing"):
        try:
            mod = importlib.import_module(f"keras.datasets.{name}")
        except ImportError:
            continue
        if name == "mnist" and mnist_dir is not None:
            mod.load_data = _mnist_loader(mnist_dir)
        elif hasattr(mod, "load_data"):
            mod.load_data = _needs_data(f"keras.datasets.{name}.load_data")
    del ds
    utils = importlib.import_module("keras.utils")
    utils.get_file = _needs_data("keras.utils.get_file")
    _cap_fit(keras.Model, epochs_cap, steps_cap)
    return keras


def _stub_matplotlib():
    """Plots draw nowhere: when matplotlib is absent, ``matplotlib.pyplot`` is a no-op stand-in
    (every attribute a callable returning itself), so plotting lines are not counted against
    the library under test."""
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    import types

    class _Nop:
        def __call__(self, *a, **k):
            return self

        def __getattr__(self, name):
            return self

        def __iter__(self):
            return iter((self, self))

        def __getitem__(self, i):
            return self

    mpl = types.ModuleType("matplotlib")
    plt = types.ModuleType("matplotlib.pyplot")
    plt.__getattr__ = lambda name: _Nop()
    mpl.pyplot = plt
    mpl.__getattr__ = lambda name: _Nop()
    sys.modules.update({"matplotlib": mpl, "matplotlib.pyplot": plt})


# -------------------------------------------------------------------------------- one guide
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("statement ran past --stmt-timeout")


def run_one(path, args):
    """Execute one guide statement by statement; returns the result dict."""
    src = pathlib.Path(path).read_text()
    tree = ast.parse(src, filename=str(path))
    stmts = [s for s in tree.body
             if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                     and isinstance(s.value.value, str))]
    try:  # before the matplotlib stand-in: torch probes matplotlib on import
        import torch  # noqa: F401
    except ImportError:
        pass
    install(args.backend, args.mnist, args.epochs, args.steps)
    _stub_matplotlib()
    ns = {"__name__": "__main__", "__file__": str(path)}
    failed_names, fails, ok = {}, [], 0
    signal.signal(signal.SIGALRM, _alarm)
    for s in stmts:
        code = compile(ast.Module(body=[s], type_ignores=[]), str(path), "exec")
        text = ast.get_source_segment(src, s) or ""
        t0 = time.time()
        signal.alarm(args.stmt_timeout)
        try:
            exec(code, ns)
            ok += 1
        except BaseException as e:  # noqa: BLE001 -- the harness counts every failure
            if isinstance(e, KeyboardInterrupt):
                raise
            signal.alarm(0)
            fails.append(_classify(e, s, text, failed_names))
            for name in _bound_names(s):       # a later NameError inherits this failure's class
                failed_names[name] = fails[-1]["kind"]
        finally:
            signal.alarm(0)
        if args.verbose:
            print(f"  [{time.time() - t0:6.1f}s] line {s.lineno}", file=sys.stderr)
    return {"guide": pathlib.Path(path).stem, "statements": len(stmts), "ran": ok, "failures": fails}


def _bound_names(s):
    out = set()
    for node in ast.walk(s):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


def _classify(e, s, text, failed_names):
    msg = f"{type(e).__name__}: {e}".splitlines()[0][:300] if str(e) else type(e).__name__
    tb = traceback.extract_tb(e.__traceback__)
    where = next((f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                  if "fusednet" in f.filename or "keras" in f.filename), "")
    if isinstance(e, NeedsData) or "URL fetch failure" in msg or \
            (isinstance(e, FileNotFoundError) and "does not download" in msg):   # pretrained weights
        kind = "needs data"
    elif FOREIGN.search(text) or re.search(r"tensorflow|jax|tfds", msg):
        kind = "tf/jax"
    elif isinstance(e, NameError) and getattr(e, "name", None) in failed_names:
        root = failed_names[e.name]      # the failure that left the name unbound
        kind = root if root in ("tf/jax", "needs data") else "cascade"
    elif isinstance(e, _Timeout):
        kind = "timeout"
    else:
        kind = "api"
    return {"line": s.lineno, "kind": kind, "error": msg, "where": where,
            "stmt": text.splitlines()[0][:120] if text else ""}


# -------------------------------------------------------------------------------- the driver
def _default_mnist():
    """The project's shared data folder: ``shared/data/mnist`` beside some ancestor of this file."""
    for parent in HERE.parents:
        cand = parent / "shared" / "data" / "mnist"
        if cand.is_dir():
            return str(cand)
    return ""


def _skip_reason(stem, only):
    if only and stem in only:
        return None
    for pat, why in SKIP_RULES:
        if re.search(pat, stem):
            return why
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("guides", help="directory of guide .py files (keras-io/guides) or one file")
    p.add_argument("--backend", choices=["fusednet", "keras"], default="fusednet")
    p.add_argument("--only", nargs="*", default=None, help="guide names (file stems) to run")
    p.add_argument("--mnist", default=_default_mnist(), help="directory of the MNIST IDX files")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--stmt-timeout", type=int, default=120)
    p.add_argument("--timeout", type=int, default=600, help="seconds per guide")
    p.add_argument("--json", default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.mnist or not os.path.isdir(args.mnist):
        args.mnist = None
    if args.one:  # child: run one guide, print its result as the last line
        os.chdir(os.environ.get("GUIDE_WORKDIR", "."))
        sys.path.insert(0, str(HERE))
        res = run_one(args.guides, args)
        sys.stdout.flush()
        print("\n@@RESULT@@" + json.dumps(res))
        return 0
    root = pathlib.Path(args.guides)
    files = [root] if root.is_file() else sorted(root.glob("*.py"))
    only = set(args.only or [])
    results, skipped = [], []
    for f in files:
        if f.stem.startswith("_") or (only and f.stem not in only):
            continue
        why = _skip_reason(f.stem, only)
        if why:
            skipped.append((f.stem, why))
            continue
        results.append(_run_child(f, args))
        r = results[-1]
        print(f"{r['guide']:<48} {r['ran']:>4}/{r['statements']:<4} {r.get('note', '')}", flush=True)
    _report(results, skipped, args)
    return 0


def _run_child(f, args):
    import tempfile
    work = tempfile.mkdtemp(prefix="guide_")
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), str(f.resolve()), "--one",
           "--backend", args.backend, "--epochs", str(args.epochs), "--steps", str(args.steps),
           "--stmt-timeout", str(args.stmt_timeout)]
    if args.mnist:
        cmd += ["--mnist", str(pathlib.Path(args.mnist).resolve())]
    env = dict(os.environ, GUIDE_WORKDIR=work, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    if args.backend == "keras":
        env["KERAS_BACKEND"] = "torch"
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
        out = cp.stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        cp = None
    if "@@RESULT@@" in out:
        return json.loads(out.rsplit("@@RESULT@@", 1)[1].strip().splitlines()[0])
    n = len([s for s in ast.parse(f.read_text()).body
             if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))])
    why = "guide timeout" if cp is None else f"crashed rc={cp.returncode}: {cp.stderr[-300:]}"
    return {"guide": f.stem, "statements": n, "ran": 0, "note": why,
            "failures": [{"line": 0, "kind": "crash", "error": why, "where": "", "stmt": ""}]}


def _report(results, skipped, args):
    kinds = ["api", "cascade", "tf/jax", "needs data", "timeout", "crash"]
    print(f"\nbackend={args.backend}  fit capped to {args.epochs} epoch(s) x {args.steps} steps\n")
    print(f"{'guide':<48} {'ran':>5} {'stmts':>5} {'%':>6}  " + " ".join(f"{k:>10}" for k in kinds))
    tot = tot_ok = tot_foreign = 0
    for r in results:
        c = {k: sum(1 for x in r["failures"] if x["kind"] == k) for k in kinds}
        pct = 100.0 * r["ran"] / max(r["statements"], 1)
        print(f"{r['guide']:<48} {r['ran']:>5} {r['statements']:>5} {pct:>5.1f}%  "
              + " ".join(f"{c[k]:>10}" for k in kinds))
        tot += r["statements"]
        tot_ok += r["ran"]
        tot_foreign += c["tf/jax"] + c["needs data"]
    if tot:
        print(f"\nOVERALL: {tot_ok}/{tot} statements ran = {100.0 * tot_ok / tot:.1f}%"
              f"; excluding {tot_foreign} tf/jax/needs-data statements: "
              f"{100.0 * tot_ok / max(tot - tot_foreign, 1):.1f}%")
    for name, why in skipped:
        print(f"skipped {name}: {why}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"results": results, "skipped": skipped}, indent=1))


if __name__ == "__main__":
    sys.exit(main())

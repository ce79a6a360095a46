"""Post-training int8 quantization of a trained model: :func:`quantize`.

Shape of the design (docs/DECISIONS.md "2026-12-04 int8 quantization", docs/QUANTIZATION.md):
the model is rebuilt from its config with every plain ``Dense`` / ``Conv2D`` entry replaced by
:class:`~fusednet.quantization.QuantizedDense` / :class:`~fusednet.quantization.QuantizedConv2D`
(same name, same place in the graph), and a ``BatchNormalization`` that directly follows a
linear ``Conv2D`` (its only consumer) replaced by ``Identity`` after being folded into the conv's
kernel and bias. Other layers keep their float weights. The original model is not modified.

* Weights: symmetric int8 per output channel (``per_channel=True``) or per tensor,
  ``w_scale = max|w| / 127``, ``w_q = clip(rint(w / w_scale), -127, 127)``; with
  ``reduce_range=True`` 7-bit weights, ``max|w| / 63`` and [-63, 63] (for runtimes whose
  u8 x s8 kernels sum product pairs in saturating int16 on x86 CPUs without VNNI, such as
  onnxruntime's: 2 * 255 * 63 < 32767, so an exported model evaluates exactly there too).
* Activations, ``mode="dynamic"``: each sample's own (min, max) at run time (done natively).
* Activations, ``mode="static"``: the input range of every quantized layer is measured by running
  ``calibration_data`` through a copy of the float model: the overall min / max of all batches
  (``calibration="minmax"``) or the mean over batches of the ``percentile`` / ``100 - percentile``
  percentiles (``calibration="percentile"``, clips rare outliers). Range extended to include 0,
  ``in_scale = (hi - lo) / 255``, ``in_zero_point = rint(-lo / in_scale)`` (uint8, asymmetric).
"""
import numpy as np

from .layers import QuantizedConv2D, QuantizedDense

__all__ = ["quantize", "quantize_weights", "activation_qparams"]

_DENSE, _CONV, _BN = "Dense", "Conv2D", "BatchNormalization"


def quantize_weights(kernel, per_channel=True, reduce_range=False):
    """Symmetric int8 quantization of a kernel over its last (output-channel) axis.

    Args:
        kernel: float array, Keras layout (output channels last).
        per_channel: one scale per output channel (default) or one for the whole tensor.
        reduce_range: 7-bit values in [-63, 63] instead of [-127, 127] (see the module notes).

    Returns:
        ``(w_q, w_scale)``: int8 array of ``kernel``'s shape in [-127, 127] ([-63, 63] with
        ``reduce_range``), float32 [channels].

    Shape:
        ``kernel`` [..., O] -> ``w_q`` [..., O], ``w_scale`` [O].

    Example:
        >>> w_q, s = quantize_weights(np.array([[0.5, -2.0], [0.25, 1.0]], np.float32))
        >>> w_q.tolist()
        [[127, -127], [64, 64]]
    """
    w = np.asarray(kernel, np.float32)
    if w.ndim < 1 or w.size == 0:
        raise ValueError(f"quantize_weights: kernel must be a non-empty array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"quantize_weights: kernel of shape {w.shape} holds NaN or inf")
    w2 = w.reshape(-1, w.shape[-1])
    amax = np.abs(w2).max(axis=0) if per_channel else np.full(w2.shape[1], np.abs(w2).max(), np.float32)
    qmax = 63 if reduce_range else 127
    scale = (amax / np.float32(qmax)).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)   # all-zero channel
    q = np.clip(np.rint(w2 / scale), -qmax, qmax).astype(np.int8)
    return q.reshape(w.shape), scale


def activation_qparams(lo, hi):
    """uint8 asymmetric ``(scale, zero_point)`` for the range ``[lo, hi]`` (extended to include 0),
    in float32 exactly as the native dynamic quantizer computes them per sample.

    Args:
        lo, hi: the calibrated range.

    Returns:
        ``(scale: float, zero_point: int)`` with ``x ≈ scale * (q - zero_point)``.

    Shape:
        Scalars.

    Example:
        >>> activation_qparams(-1.0, 3.0)[1]
        64
    """
    lo = np.float32(min(float(lo), 0.0))
    hi = np.float32(max(float(hi), 0.0))
    s = np.float32((hi - lo) / np.float32(255))
    if not s > 0 or not np.isfinite(s):
        s = np.float32(1)
    zp = int(np.clip(np.rint(np.float32(-lo / s)), 0, 255))
    return float(s), zp


# ---------------------------------------------------------------- graph structure from the config
def _history_names(obj, out):
    if isinstance(obj, dict):
        kh = obj.get("config", {}).get("keras_history") if obj.get("class_name") == "__keras_tensor__" else None
        if kh:
            out.append(kh[0])
        for v in obj.values():
            _history_names(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _history_names(v, out)
    return out


def _structure(cfg, sequential):
    """(entries, producers: name -> [names], consumers: name -> count, outputs: set, calls)."""
    entries = cfg["layers"]
    names = [e["config"]["name"] for e in entries]
    producers, calls = {}, {}
    if sequential:
        for i, n in enumerate(names):
            producers[n] = [names[i - 1]] if i else []
            calls[n] = 1
        outputs = {names[-1]} if names else set()
    else:
        for e, n in zip(entries, names):
            nodes = e.get("inbound_nodes", [])
            producers[n] = _history_names(nodes, [])
            calls[n] = max(len(nodes), 1)
        ol = cfg.get("output_layers", [])
        ol = [ol] if ol and isinstance(ol[0], str) else ol
        outputs = {o[0] for o in ol}
    consumers = {n: 0 for n in names}
    for n in names:
        for p in producers[n]:
            consumers[p] = consumers.get(p, 0) + 1
    return entries, producers, consumers, outputs, calls


def _is(layer, cls_name):
    return type(layer).__name__ == cls_name and type(layer).__module__.startswith("fusednet.layers")


# ---------------------------------------------------------------- calibration
class _Range:
    def __init__(self, method, percentile):
        self.method, self.p = method, percentile
        self.lo, self.hi, self.los, self.his = np.inf, -np.inf, [], []

    def observe(self, x):
        a = np.asarray(x.to("cpu") if getattr(x, "device", "cpu") != "cpu" else x, np.float32)
        a = a[np.isfinite(a)]
        if a.size == 0:
            return
        if self.method == "minmax":
            self.lo, self.hi = min(self.lo, float(a.min())), max(self.hi, float(a.max()))
        else:
            lo, hi = np.percentile(a, [100.0 - self.p, self.p])
            self.los.append(float(lo))
            self.his.append(float(hi))

    def qparams(self, name):
        if self.method == "minmax":
            if not np.isfinite(self.lo):
                raise ValueError(f"quantize: layer '{name}' saw no finite input during calibration")
            return activation_qparams(self.lo, self.hi)
        if not self.los:
            raise ValueError(f"quantize: layer '{name}' saw no finite input during calibration")
        return activation_qparams(np.mean(self.los), np.mean(self.his))


def _hook(layer, rng):
    fwd = layer.forward

    def forward(ctx, x, *args, **kwargs):
        rng.observe(x)
        return fwd(ctx, x, *args, **kwargs)

    layer.forward = forward
    if hasattr(layer, "forward_pooled"):   # Conv2D -> MaxPooling2D fused step
        fp = layer.forward_pooled

        def forward_pooled(ctx, x, *args, **kwargs):
            rng.observe(x)
            return fp(ctx, x, *args, **kwargs)

        layer.forward_pooled = forward_pooled


def _calibrate(model, names, data, method, percentile, batch_size):
    probe = type(model).from_config(model.get_config())
    if not probe.built:
        probe.build(model.input_shape)
    probe.set_weights(model.get_weights())
    ranges = {n: _Range(method, percentile) for n in names}
    for n in names:
        _hook(probe.get_layer(n), ranges[n])
    from ..layers import fusion as layer_fusion
    from ..trainers import fusion
    with fusion.disabled(), layer_fusion.disabled():   # every layer runs its own forward (no folded steps)
        _run_calibration(probe, data, batch_size)
    return {n: ranges[n].qparams(n) for n in names}


def _run_calibration(probe, data, batch_size):
    if isinstance(data, np.ndarray) or hasattr(data, "__array_interface__") or hasattr(data, "__dlpack__"):
        probe.predict(np.asarray(data, np.float32), batch_size=batch_size, verbose=0)
    else:
        n_batches = 0
        for item in data:
            x = item[0] if isinstance(item, (tuple, list)) else item
            x = np.asarray(x, np.float32)
            probe.predict(x, batch_size=max(len(x), 1), verbose=0)
            n_batches += 1
        if n_batches == 0:
            raise ValueError("quantize: calibration_data yielded no batches")


# ---------------------------------------------------------------- the transformation
def _bn_fold(bn):
    ws = {w.name.split("/")[-1]: np.asarray(w.numpy(), np.float64) for w in bn.weights}
    var, mean = ws["moving_variance"], ws["moving_mean"]
    g = ws.get("gamma", np.ones_like(var)) / np.sqrt(var + bn.epsilon)
    return g, ws.get("beta", np.zeros_like(var)) - mean * g


def _qentry(entry, cls, cfg):
    out = dict(entry)
    out.update({"module": cls.__module__, "class_name": cls.__name__,
                "registered_name": cls.__name__, "config": cfg})
    return out


def quantize(model, calibration_data=None, mode="dynamic", per_channel=True, calibration="minmax",
             percentile=99.99, batch_size=64, min_depth=16, reduce_range=False):
    """Post-training int8 quantization: a new model whose Dense / Conv2D layers run int8 kernels.

    Args:
        model: a trained, built Sequential or functional model (left unchanged).
        calibration_data: for ``mode="static"``: an array of inputs (run in batches of
            ``batch_size``) or an iterable of batches (arrays or ``(x, y)`` tuples). Unused by
            ``mode="dynamic"``.
        mode: "dynamic" (activations quantized per sample at run time) or "static" (calibrated,
            fixed activation scale / zero point per layer).
        per_channel: per-output-channel weight scales (default) or one per tensor.
        calibration: "minmax" (default) or "percentile" (static mode only).
        percentile: the upper percentile for ``calibration="percentile"`` (default 99.99).
        batch_size: calibration batch size for array input.
        min_depth: layers whose reduction depth (Dense input size, conv ``kh*kw*Cin``) is below
            this stay float32 (default 16): with so few products per output the int8 GEMM cannot
            pay for quantizing its input (the seed CNN's first conv, K = 9, is ~10x slower in int8,
            and it keeps its fused float Conv2D+MaxPooling2D step).
        reduce_range: 7-bit weights ([-63, 63]): costs about one bit of weight precision; use
            it for a model that will be exported to ONNX and run by onnxruntime on x86 CPUs
            without VNNI, whose default-level int8 kernels otherwise saturate (measured under
            ``qemu-x86_64 -cpu EPYC-Milan``: the seed-sized test MLP / CNN off by 17 / 70 output
            quantization steps from the graph as written; 0.00 steps with reduce_range).

    Returns:
        A new (uncompiled) model of the same class, inference only: ``predict`` works;
        ``fit`` fails (quantized layers have no backward).

    Shape:
        Same inputs and outputs as ``model``.

    Example:
        >>> q = fusednet.quantization.quantize(model, x_train[:1000], mode="static")
        >>> np.mean(np.argmax(q.predict(x_test), 1) == y_test)
    """
    if mode not in ("dynamic", "static"):
        raise ValueError(f"quantize: mode must be 'dynamic' or 'static', got {mode!r}")
    if calibration not in ("minmax", "percentile"):
        raise ValueError(f"quantize: calibration must be 'minmax' or 'percentile', got {calibration!r}")
    if not 50.0 < float(percentile) <= 100.0:
        raise ValueError(f"quantize: percentile must be in (50, 100], got {percentile!r}")
    from ..models import Sequential
    if not hasattr(model, "get_config") or not hasattr(model, "layers") or \
            (callable(getattr(model, "_is_subclassed", None)) and model._is_subclassed()):
        raise TypeError(f"quantize: expected a Sequential or functional model, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"quantize: model '{model.name}' is not built; build or fit it first")
    if mode == "static" and calibration_data is None:
        raise ValueError("quantize: mode='static' needs calibration_data (a few hundred representative inputs)")
    cfg = model.get_config()
    seq = isinstance(model, Sequential)
    entries, producers, consumers, outputs, calls = _structure(cfg, seq)
    layers = {l.name: l for l in model.layers}
    targets = [n for n, l in layers.items() if (_is(l, _DENSE) or _is(l, _CONV)) and l.built and
               int(np.prod(l.kernel.shape[:-1])) >= min_depth]
    if not targets:
        raise ValueError(f"quantize: model '{model.name}' has no Dense or Conv2D layer with a reduction "
                         f"depth >= min_depth={min_depth} to quantize")
    folds = {}   # conv name -> bn name
    for n, l in layers.items():
        if not _is(l, _BN) or l.axis not in (-1, 3) or calls.get(n, 1) != 1 or len(producers.get(n, [])) != 1:
            continue
        p = producers[n][0]
        pl = layers.get(p)
        if p in targets and _is(pl, _CONV) and pl.activation == "linear" and consumers.get(p) == 1 \
                and p not in outputs and calls.get(p, 1) == 1:
            folds[p] = n
    qp = _calibrate(model, targets, calibration_data, calibration, percentile, batch_size) \
        if mode == "static" else {}
    bn_names = set(folds.values())
    new_entries = []
    for e in entries:
        n = e["config"]["name"]
        if n in targets:
            l = layers[n]
            base = {k: e["config"][k] for k in ("batch_input_shape", "batch_shape") if k in e["config"]}
            s, z = qp.get(n, (None, 0))
            c = {**base, "name": n, "trainable": False, "dtype": "float32", "activation": l.activation,
                 "use_bias": bool(l.use_bias or n in folds), "in_scale": s, "in_zero_point": z}
            if _is(l, _DENSE):
                new_entries.append(_qentry(e, QuantizedDense, {**c, "units": l.units}))
            else:
                new_entries.append(_qentry(e, QuantizedConv2D, {
                    **c, "filters": l.filters, "kernel_size": list(l.kernel_size), "strides": list(l.strides),
                    "padding": l.padding, "dilation_rate": list(l.dilation_rate)}))
        elif n in bn_names:
            from ..layers import Identity
            new_entries.append({**e, "module": Identity.__module__, "class_name": "Identity",
                                "registered_name": "Identity",
                                "config": {"name": n, "trainable": False, "dtype": "float32"}})
        else:
            new_entries.append(e)
    qmodel = type(model).from_config({**cfg, "layers": new_entries})
    if not qmodel.built:
        qmodel.build(model.input_shape)
    for l in qmodel.layers:
        src = layers.get(l.name)
        if src is None or not l.weights:
            continue
        if isinstance(l, (QuantizedDense, QuantizedConv2D)):
            k = np.asarray(src.kernel.numpy(), np.float64)
            b = np.asarray(src.bias.numpy(), np.float64) if src.bias is not None else np.zeros(k.shape[-1])
            if l.name in folds:
                g, shift = _bn_fold(layers[folds[l.name]])
                k, b = k * g, b * g + shift
            w_q, w_s = quantize_weights(k.astype(np.float32), per_channel, reduce_range)
            ws = [w_q, w_s] + ([b.astype(np.float32)] if l.use_bias else [])
            l.set_weights(ws)
        else:
            l.set_weights(src.get_weights())
    return qmodel

"""MultiHeadAttention (Keras 3) on the fused attention kernel (``_C.attention_forward`` /
``_C.attention_backward``: online softmax, no Tq x Tk buffer, causal blocks skipped).

Weights follow Keras's layout and order: ``query/kernel [d_q, H, key_dim]``, ``query/bias
[H, key_dim]``, the same for ``key`` and ``value`` (value_dim), then ``attention_output/kernel
[H, value_dim, d_out]`` and ``attention_output/bias [d_out]``. Each projection is one GEMM on a
``[B*T, d] x [d, H*k]`` view whose result *is* the ``[B, T, H, k]`` tensor the kernel reads in its
'bthd' layout, so the layer never transposes. Self-attention (one array as query, value and key,
key_dim == value_dim) runs one QKV GEMM on the concatenated kernels instead, read in place by the
packed kernels (``_C.attention_forward_packed``: q, k, v are thirds of one [B, T, 3, H, k] buffer).

Per-call options (``use_causal_mask``, whether ``key`` / ``attention_mask`` are given) travel on
the call's context in eager mode. A symbolic call (functional model) records them on the layer,
so one layer used twice in a graph must be called with the same options both times.
"""
import math

import numpy as np

from .. import _C
from .. import initializers as _init
from .. import random as _random
from ..tensor import Tensor, _state
from .base import Context, KerasTensor, Layer, LayerFunction

__all__ = ["MultiHeadAttention"]


def _dims(shape, owner, what):
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"{owner}: {what} must have shape (batch, time, features) with known features, "
                         f"got {tuple(shape)}")
    return int(shape[-1])


class MultiHeadAttention(Layer):
    """Multi-head attention (Keras 3 ``keras.layers.MultiHeadAttention``).

    ``softmax(Q Kᵀ / sqrt(key_dim) [+ masks]) V`` per head on the fused kernel, heads projected in
    and out with Keras's einsum-shaped weights.

    Args:
        num_heads: number of attention heads H.
        key_dim: size of each query/key head.
        value_dim: size of each value head (default ``key_dim``).
        dropout: dropout rate on the attention probabilities (training only).
        use_bias: whether the four projections have biases.
        output_shape: last dimension of the output (default: the query's last dimension); an int
            or a 1-tuple.
        attention_axes: only None (attention over axis 1) is supported.
        kernel_initializer, bias_initializer: initializers of the projections.
        seed: seed of the dropout masks (default: fusednet's global stream).

    Call args:
        query: ``(B, Tq, d_q)``. value: ``(B, Tk, d_v)``. key: ``(B, Tk, d_k)``, default ``value``.
        attention_mask: boolean/0-1 ``(B, Tq, Tk)`` (or broadcastable, e.g. ``(B, 1, Tk)``);
            ``True`` = attend. use_causal_mask: query i attends keys j <= i only.
        return_attention_scores: also return the probabilities ``(B, H, Tq, Tk)`` (eager only;
            this materialises them).

    Shape:
        output: ``(B, Tq, output_shape or d_q)``.

    Example:
        >>> x = fusednet.Input((64, 128))
        >>> h = fusednet.layers.MultiHeadAttention(num_heads=4, key_dim=32)(x, x, use_causal_mask=True)
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        for nm, v in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"MultiHeadAttention: {nm} must be a positive int, got {v!r}")
        if value_dim is not None and (not isinstance(value_dim, (int, np.integer)) or value_dim <= 0):
            raise ValueError(f"MultiHeadAttention: value_dim must be a positive int or None, got {value_dim!r}")
        if not (0.0 <= float(dropout) < 1.0):
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        if attention_axes is not None:
            raise ValueError("MultiHeadAttention: only attention_axes=None (attention over the time axis of "
                             f"(batch, time, features) inputs) is supported, got {attention_axes!r}")
        if kernel_regularizer is not None or bias_regularizer is not None:
            raise ValueError("MultiHeadAttention: kernel/bias regularizers are not supported")
        if isinstance(output_shape, (tuple, list)):
            if len(output_shape) != 1:
                raise ValueError(f"MultiHeadAttention: output_shape must be an int or a 1-tuple, got {output_shape}")
            output_shape = output_shape[0]
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        self._output_dim = int(output_shape) if output_shape is not None else None
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)
        self.seed = seed
        self._stream = _random.SeedStream(seed) if seed is not None else None
        self._graph_cfg = None
        self._proj = None

    # ----------------------------------------------------------------- build
    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the weights; also accepts one list ``[query_shape, value_shape(, key_shape)]``."""
        if value_shape is None and isinstance(query_shape, (list, tuple)) and query_shape and \
                isinstance(query_shape[0], (list, tuple)):
            shapes = list(query_shape)
            query_shape, value_shape = shapes[0], shapes[1]
            key_shape = shapes[2] if len(shapes) > 2 else None
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        own = f"MultiHeadAttention '{self.name}'"
        dq, dv, dk = _dims(query_shape, own, "query"), _dims(value_shape, own, "value"), _dims(key_shape, own, "key")
        H, kd, vd = self.num_heads, self.key_dim, self.value_dim
        dout = self._output_dim or dq
        kin, bin_ = self.kernel_initializer, self.bias_initializer
        self._proj = []
        for nm, din, k in (("query", dq, kd), ("key", dk, kd), ("value", dv, vd)):
            w = self.add_weight((din, H, k), kin, name=f"{nm}/kernel")
            b = self.add_weight((H, k), bin_, name=f"{nm}/bias") if self.use_bias else None
            self._proj.append((w, b))
        self.output_kernel = self.add_weight((H, vd, dout), kin, name="attention_output/kernel")
        self.output_bias = self.add_weight((dout,), bin_, name="attention_output/bias") if self.use_bias else None
        self._dims_in = (dq, dv, dk)
        self.built = True

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None and isinstance(query_shape, (list, tuple)) and query_shape and \
                isinstance(query_shape[0], (list, tuple)):
            query_shape = query_shape[0]
        return tuple(query_shape[:-1]) + (self._output_dim or query_shape[-1],)

    # ----------------------------------------------------------------- calling
    def __call__(self, query, value=None, key=None, attention_mask=None, return_attention_scores=False,
                 training=None, use_causal_mask=False, **kwargs):
        if kwargs:
            raise TypeError(f"MultiHeadAttention: unexpected call argument(s): {', '.join(sorted(kwargs))} "
                            "(query_mask/value_mask/key_mask are not supported)")
        if value is None and isinstance(query, (list, tuple)) and self._graph_cfg is not None:
            # a functional model replaying its graph eagerly passes the node's inputs as one list
            has_key, has_mask, use_causal_mask = self._graph_cfg
            items = list(query)
            query, value = items[0], items[1]
            key = items[2] if has_key else None
            attention_mask = items[2 + has_key] if has_mask else None
        if value is None:
            raise ValueError(f"MultiHeadAttention '{self.name}': call it as mha(query, value[, key])")
        from .masks import as_mask_array, get_mask, set_mask
        in_masks = [get_mask(query), get_mask(value), get_mask(key)]
        in_masks = [as_mask_array(m) for m in in_masks] if any(m is not None for m in in_masks) else None
        cfg = (key is not None, attention_mask is not None, bool(use_causal_mask))
        xs = [query, value] + ([key] if key is not None else []) + \
             ([attention_mask] if attention_mask is not None else [])
        if isinstance(query, KerasTensor):
            if return_attention_scores:
                raise NotImplementedError(f"MultiHeadAttention '{self.name}': return_attention_scores=True is "
                                          "supported in eager calls only")
            if self._graph_cfg is not None and self._graph_cfg != cfg:
                raise ValueError(f"MultiHeadAttention '{self.name}': called symbolically again with different "
                                 f"options (key given, attention_mask given, use_causal_mask) = {cfg}, first "
                                 f"{self._graph_cfg}; use a second layer")
            self._graph_cfg = cfg
            shapes = [t.shape for t in xs]
            self._maybe_build([shapes[0], shapes[1]] + ([shapes[2]] if cfg[0] else []))
            out = KerasTensor(self.compute_output_shape(shapes[0]), layer=self, inputs=tuple(xs), name=self.name)
            return self._record_call(list(xs), out)
        from ..functional import as_tensor
        from .base import _f32
        ts = [as_tensor(_f32(x)) for x in xs[:2 + cfg[0]]]
        if cfg[1]:
            ts.append(as_tensor(_mask_array(attention_mask)))
        self._maybe_build([t.shape for t in ts[:2 + cfg[0]]])
        out = self._eager(ts, training, cfg, return_attention_scores, in_masks)
        if in_masks is not None:
            set_mask(out[0] if return_attention_scores else out, in_masks[0])
        return out

    def _eager(self, ts, training, cfg, want_scores, masks=None):
        ctx = Context()
        ctx.cfg = cfg
        if masks is not None:
            ctx.input_mask = masks
        y = self.forward(ctx, [t.data for t in ts], bool(training))
        scores = self._scores(ctx) if want_scores else None
        ws = self.trainable_weights
        rec = [*ts, *ws]
        if _state.enabled and any(t.requires_grad for t in rec):
            fn = LayerFunction()
            fn.layer, fn.ctx, fn.n_in = self, ctx, len(ts)
            fn.need_dx = any(t.requires_grad for t in ts)
            out = Tensor._from_op(y, fn, rec)
        else:
            out = Tensor._wrap(y)
        return (out, Tensor._wrap(scores)) if want_scores else out

    # ----------------------------------------------------------------- protocol
    def forward(self, ctx, inputs, training, strip=False):
        cfg = getattr(ctx, "cfg", None) or self._graph_cfg or (False, False, False)
        has_key, has_mask, causal = cfg
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2 + has_key + has_mask:
            raise ValueError(f"MultiHeadAttention '{self.name}': expected {2 + has_key + has_mask} inputs "
                             f"(query, value{', key' if has_key else ''}{', attention_mask' if has_mask else ''})")
        q_in, v_in = inputs[0], inputs[1]
        k_in = inputs[2] if has_key else v_in
        mask = inputs[2 + has_key] if has_mask else None
        own = f"MultiHeadAttention '{self.name}'"
        for nm, a, want in (("query", q_in, self._dims_in[0]), ("value", v_in, self._dims_in[1]),
                            ("key", k_in, self._dims_in[2])):
            if a.ndim != 3 or a.shape[-1] != want:
                raise ValueError(f"{own}: {nm} must have shape (batch, time, {want}), got {tuple(a.shape)}")
        if q_in.shape[0] != v_in.shape[0] or k_in.shape[0] != v_in.shape[0] or k_in.shape[1] != v_in.shape[1]:
            raise ValueError(f"{own}: query {tuple(q_in.shape)}, value {tuple(v_in.shape)} and key "
                             f"{tuple(k_in.shape)} must share the batch size (key and value the time axis)")
        if mask is not None:
            if mask.dtype != "float32":
                mask = _C.cast(mask, "float32")
            if mask.ndim == 2:
                mask = mask.reshape(1, *mask.shape)
        auto = self._auto_mask(ctx.__dict__.get("input_mask"), q_in, v_in, k_in if has_key else None)
        if auto is not None:
            mask = auto if mask is None else _C.binary("mul", mask, auto)
        H, kd, vd = self.num_heads, self.key_dim, self.value_dim
        xs = (q_in, k_in, v_in)
        B, Tq, Tk = q_in.shape[0], q_in.shape[1], v_in.shape[1]
        rate = self.dropout if training else 0.0
        seed, off = (self._stream.next() if self._stream is not None else _random.next_key()) if rate > 0 else (0, 0)
        scale = 1.0 / math.sqrt(kd)
        # Self-attention (one array is query, key and value) with key_dim == value_dim: one QKV GEMM
        # on the concatenated kernels, whose [B, T, 3, H, k] output the packed kernel reads in place.
        packed = q_in is v_in and k_in is v_in and kd == vd
        ctx.packed = None
        try:
            if packed:
                d = q_in.shape[-1]
                W = _C.concat([w.data.reshape(d, H * kd) for w, _ in self._proj], 1)
                bq = _C.concat([b.data.reshape(H * kd) for _, b in self._proj], 0) if self.use_bias else None
                qkv = _C.matmul(q_in.reshape(B * Tq, d), W, False, False, bq, "none").reshape(B, Tq, 3, H, kd)
                o, lse = _C.attention_forward_packed(qkv, causal, scale, mask, rate, seed, off)
                ctx.packed, q, k, v = (qkv, W), None, None, None
            else:
                proj = [self._project(x, w, b, H * k) for x, (w, b), k in zip(xs, self._proj, (kd, kd, vd))]
                q = proj[0].reshape(B, Tq, H, kd)
                k = proj[1].reshape(B, Tk, H, kd)
                v = proj[2].reshape(B, Tk, H, vd)
                o, lse = _C.attention_forward(q, k, v, causal, scale, mask, rate, seed, off, "bthd")
        except ValueError as e:
            raise ValueError(f"{own}: {e}") from None
        o2 = o.reshape(B * Tq, H * vd)
        dout = self.output_kernel.shape[-1]
        bo = self.output_bias.data if self.output_bias is not None else None
        y = _C.matmul(o2, self.output_kernel.data.reshape(H * vd, dout), False, False, bo, "none")
        ctx.cfg = cfg
        ctx.xs, ctx.qkv, ctx.o, ctx.lse, ctx.mask = xs, (q, k, v), o, lse, mask
        ctx.drop, ctx.scale, ctx.same_kv = (rate, seed, off), scale, not has_key
        return y.reshape(B, Tq, dout)

    supports_masking = True       # the output carries the query's mask (Keras)

    def compute_mask(self, inputs, mask=None):
        """Keras: the query's mask."""
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def _auto_mask(self, masks, q_in, v_in, k_in):
        """Keras' ``_compute_attention_mask`` from the inputs' masks: query [B, Tq] → [B, Tq, 1],
        value / key [B, Tk] → [B, 1, Tk], AND-ed (0/1 products) into [B, Tq, Tk], or None."""
        if not masks:
            return None
        from .masks import check_mask
        own = f"MultiHeadAttention '{self.name}'"
        mq = masks[0] if len(masks) > 0 else None
        mv = masks[1] if len(masks) > 1 else None
        mk = masks[2] if len(masks) > 2 and k_in is not None else None
        if mq is None and mv is None and mk is None:
            return None
        B, Tq, Tk = q_in.shape[0], q_in.shape[1], v_in.shape[1]
        out = _C.full([B, Tq, Tk], 1.0, "float32", q_in.device)
        if mq is not None:
            out = _C.binary("mul", out, check_mask(f"{own} (query mask)", mq, q_in.shape).reshape(B, Tq, 1))
        for nm, m, x in (("value", mv, v_in), ("key", mk, k_in)):
            if m is not None:
                out = _C.binary("mul", out, check_mask(f"{own} ({nm} mask)", m, x.shape).reshape(B, 1, Tk))
        return out

    def _project(self, x, w, b, n):
        B, T, d = x.shape
        return _C.matmul(x.reshape(B * T, d), w.data.reshape(d, n), False, False,
                         b.data.reshape(n) if b is not None else None, "none")

    def backward(self, ctx, dy, need_dx):
        H, kd, vd = self.num_heads, self.key_dim, self.value_dim
        B, Tq = ctx.o.shape[0], ctx.o.shape[1]
        dout = self.output_kernel.shape[-1]
        o2 = ctx.o.reshape(B * Tq, H * vd)
        d_o2, dWo, dbo = _C.dense_backward(dy.reshape(B * Tq, dout), o2,
                                           self.output_kernel.data.reshape(H * vd, dout), None, "none", True,
                                           self.use_bias)
        rate, seed, off = ctx.drop
        if ctx.packed is not None:
            return self._backward_packed(ctx, d_o2.reshape(B, Tq, H, vd), dWo, dbo, need_dx)
        q, k, v = ctx.qkv
        dq, dk, dv = _C.attention_backward(d_o2.reshape(B, Tq, H, vd), q, k, v, ctx.o, ctx.lse,
                                           ctx.cfg[2], ctx.scale, ctx.mask, rate, seed, off, "bthd")
        dxs, grads = [], []
        for x, (w, b), g, n in zip(ctx.xs, self._proj, (dq, dk, dv), (H * kd, H * kd, H * vd)):
            Bx, T, d = x.shape
            dx, dw, db = _C.dense_backward(g.reshape(Bx * T, n), x.reshape(Bx * T, d), w.data.reshape(d, n), None,
                                           "none", need_dx, self.use_bias)
            dxs.append(dx.reshape(Bx, T, d) if dx is not None else None)
            grads.append(dw.reshape(*w.shape))
            if self.use_bias:
                grads.append(db.reshape(*b.shape))
        grads.append(dWo.reshape(*self.output_kernel.shape))
        if self.use_bias:
            grads.append(dbo)
        # trainable_weights order: query k/b, key k/b, value k/b, output k/b (the loop's order)
        if not self.trainable:
            grads = []
        if not need_dx:
            return None, grads
        d_query, d_key, d_value = dxs
        if ctx.same_kv:  # key defaulted to value: one input receives both gradients
            dx = [d_query, _C.binary("add", d_value, d_key)]
        else:
            dx = [d_query, d_value, d_key]
        if ctx.cfg[1]:
            dx.append(None)
        return dx, grads

    def _backward_packed(self, ctx, d_o, dWo, dbo, need_dx):
        """Backward of the packed self-attention: one dqkv [B, T, 3, H, k] from the kernel, one
        dense_backward through the concatenated QKV kernel (dX = dqkv·Wᵀ sums the three input
        gradients in its K loop), its dW / db split back into the three variables."""
        qkv, W = ctx.packed
        B, T, _, H, kd = qkv.shape
        rate, seed, off = ctx.drop
        g = _C.attention_backward_packed(d_o, qkv, ctx.o, ctx.lse, ctx.cfg[2], ctx.scale, ctx.mask, rate, seed, off)
        x = ctx.xs[0]
        d = x.shape[-1]
        dx, dw, db = _C.dense_backward(g.reshape(B * T, 3 * H * kd), x.reshape(B * T, d), W, None, "none", need_dx,
                                       self.use_bias)
        grads = []
        if self.trainable:
            dw3 = dw.reshape(d, 3, H * kd)
            db3 = db.reshape(3, H * kd) if self.use_bias else None
            for i, (w, b) in enumerate(self._proj):
                grads.append(_C.slice_axis(dw3, 1, i, i + 1).reshape(*w.shape))
                if self.use_bias:
                    grads.append(_C.slice_axis(db3, 0, i, i + 1).reshape(*b.shape))
            grads.append(dWo.reshape(*self.output_kernel.shape))
            if self.use_bias:
                grads.append(dbo)
        if not need_dx:
            return None, grads
        # query, value (and key) are one array: its whole gradient on the first input
        return [dx.reshape(B, T, d)] + [None] * (1 + ctx.cfg[0] + ctx.cfg[1]), grads

    # ----------------------------------------------------------------- scores
    def _scores(self, ctx):
        """Probabilities (B, H, Tq, Tk) before dropout: the fused kernel applied to V = identity,
        so O = P exactly as the output path computes it (this materialises Tq x Tk)."""
        if ctx.packed is not None:
            qkv = ctx.packed[0]
            B_, T_, _, H_, kd_ = qkv.shape
            ctx.qkv = tuple(_C.slice_axis(qkv, 2, i, i + 1).reshape(B_, T_, H_, kd_) for i in range(3))
        q, k, _ = ctx.qkv
        B, Tk, H = k.shape[0], k.shape[1], self.num_heads
        eye = _C.asarray(np.ascontiguousarray(np.broadcast_to(np.eye(Tk, dtype=np.float32)[None, :, None, :],
                                                              (B, Tk, H, Tk))))
        p, _ = _C.attention_forward(q, k, eye, ctx.cfg[2], ctx.scale, ctx.mask, 0.0, 0, 0, "bthd")
        return _C.transpose(p, [0, 2, 1, 3])

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_dim, "attention_axes": None,
                "kernel_initializer": _init.serialize(self.kernel_initializer),
                "bias_initializer": _init.serialize(self.bias_initializer), "seed": self.seed}


def _mask_array(m):
    """attention_mask as a float32 0/1 Array (bool / int / float inputs; Keras keeps m > 0.5)."""
    if isinstance(m, Tensor):
        m = m.data
    if isinstance(m, _C.Array):
        return m if m.dtype == "float32" else _C.cast(m, "float32")
    return _C.asarray(np.ascontiguousarray(np.asarray(m).astype(np.float32)))

"""The compiled graph plan: forward, loss and backward of any DAG of layers on native Arrays.

A model describes itself as a :class:`Graph`: input keys, output keys and nodes (layer, input
keys, output key) in topological order; a layer called twice (shared) is two nodes. The plan
turns nodes into steps (applying :mod:`.fusion` rules), then per training step:

    forward   each step ``forward(ctx, x, training, strip)`` with a fresh context; a value is
              dropped as soon as its last consumer ran (liveness), so only what backward needs
              (held by the contexts) stays alive
    loss      per output, the loss's fused kernel (softmax/sigmoid stripped where it fuses)
    backward  steps in reverse; gradients reaching one value from several consumers are added;
              weight gradients of a shared layer are added; a step whose inputs need no gradient
              is asked for none (``need_dx``); frozen layers return no weight gradients; a step
              whose output gets no gradient is skipped; each context is freed after its step

Steps are the layer protocol itself (``Layer.forward/backward``), a fused step, or a *tape step*
for a layer whose maths is a Tensor ``call()`` (a user layer): only that node runs through the
autograd tape. Gradients come back as one Array per parameter (zeros where none arrived).
"""
from .. import _C
from ..layers.base import Context, call_losses
from ..tensor import Tensor, enable_grad, no_grad
from . import fusion
from . import masks as _masks
from ..models.multi_output import add_grads


def may_add_loss(model):
    """Whether a layer of ``model`` can call ``add_loss()``: a user-defined layer (its Python
    ``call`` may); the built-in layers never do. ``fit`` without a compiled loss is valid then
    (Keras: the add_loss terms are the loss) and fails at the first step if none was added."""
    from ..layers.base import walk_layers
    return any(not type(l).__module__.startswith("fusednet.")
               for l in walk_layers([l for l in model.layers if l is not model]))


def check_fit_loss(model):
    """``fit`` needs a compiled loss, or a layer that may ``add_loss()`` (checked again per step)."""
    if all(l is None for l in model._out_losses) and not may_add_loss(model):
        raise ValueError("fit: the model was compiled without a loss; pass loss= to compile(), or "
                         "override train_step()")

__all__ = ["Graph", "Node", "GraphPlan", "with_casts"]


def _add(a, b):
    return _C.binary("add", a, b)


class Node:
    """One layer call: ``out_key = layer(in_keys...)``; ``multi``: the layer takes a list."""

    __slots__ = ("layer", "in_keys", "out_key", "multi", "is_output", "mask_input")

    def __init__(self, layer, in_keys, out_key, multi, mask_input=False):
        self.layer, self.in_keys, self.out_key, self.multi = layer, tuple(in_keys), out_key, multi
        self.is_output = False
        # an explicit ``layer(x, mask=m)``: in_keys = (x, m); m reaches the layer as its input mask
        self.mask_input = bool(mask_input)


class Graph:
    """inputs / outputs: lists of keys; nodes: topologically ordered :class:`Node` list."""

    __slots__ = ("inputs", "outputs", "nodes")

    def __init__(self, inputs, outputs, nodes):
        self.inputs, self.outputs, self.nodes = list(inputs), list(outputs), list(nodes)
        outs = set(self.outputs)
        for n in self.nodes:
            n.is_output = n.out_key in outs

    @staticmethod
    def chain(layers):
        """A chain of single-input layers (Sequential): keys are 0..len(layers)."""
        return Graph([0], [len(layers)], [Node(l, (i,), i + 1, False) for i, l in enumerate(layers)])


class _TapeStep:
    """A layer with a Tensor ``call()``: its node runs on the autograd tape."""

    __slots__ = ("layer", "multi")

    def __init__(self, layer, multi):
        self.layer, self.multi = layer, multi

    def forward(self, ctx, x, training, strip=False):
        xs = x if self.multi else [x]
        if not training or not ctx.record:
            with no_grad():
                ts = [Tensor._wrap(a) for a in xs]
                _masks.attach_input_masks(ts, ctx)
                out = self.layer(ts if self.multi else ts[0], training=training, **self.layer.graph_call_kwargs())
                _masks.tape_output_mask(out, ctx)
                if training:     # a step without gradients still adds its add_loss() terms' values
                    ctx.extra = call_losses(self.layer)
                return out.data
        ts = []
        for a in xs:
            t = Tensor._wrap(a)
            t.requires_grad = ctx.need_dx
            ts.append(t)
        _masks.attach_input_masks(ts, ctx)
        with enable_grad():
            out = self.layer(ts if self.multi else ts[0], training=training, **self.layer.graph_call_kwargs())
        _masks.tape_output_mask(out, ctx)
        ctx.ts, ctx.out = ts, out
        ctx.extra = call_losses(self.layer)     # add_loss() terms: added to the training loss
        return out.data

    def backward(self, ctx, dy, need_dx):
        ws = self.layer.trainable_weights
        for w in ws:
            w.grad = None
        extra = [e for e in ctx.extra if e.requires_grad]
        if extra:
            # one backward through sum(out * dy) + the add_loss terms: a second pass could not
            # reuse the layers' contexts (freed after their first backward)
            from .. import functional as F
            total = extra[0] if len(extra) == 1 else F.add(extra[0], extra[1])
            for e in extra[2:]:
                total = F.add(total, e)
            if ctx.out.requires_grad:
                total = F.add(total, F.sum(F.mul(ctx.out, Tensor._wrap(dy))))
            total.backward()
        elif ctx.out.requires_grad:
            ctx.out.backward(dy)
        dx = [t.grad.data if t.grad is not None else None for t in ctx.ts]
        grads = []
        for w in ws:
            grads.append(w.grad.data if w.grad is not None else _C.zeros(list(w.shape), device=w.data.device))
            w.grad = None
        for w, reg in getattr(self.layer, "_regularized", ()):
            for i, ww in enumerate(ws):
                if ww is w:
                    reg.add_grad_(grads[i], w.data)
        return (dx if self.multi else dx[0]), grads


class _Step:
    """fwd/bwd: the protocol methods; in_slots/out_slot: value slots; multi: the step takes a list;
    widx: indices of its trainable weights in ``params``; need_dx: an input needs a gradient;
    active: backward must run (need_dx or weights); free: slots dead after this step's forward;
    flags: context attributes set by a fusion rule; tape: a tape step; mlayer: the layer whose
    ``compute_mask`` gives the step's output mask (the last of a fused step); mask_in: the last
    input slot is an explicit mask (``layer(x, mask=m)``)."""

    __slots__ = ("fwd", "bwd", "in_slots", "out_slot", "multi", "widx", "need_dx", "active", "free",
                 "flags", "tape", "mlayer", "mask_in")


class _CastToFloat:
    """Plan step inserted before a layer that needs floats and reads an integer graph input
    (Keras autocast): one native cast; integer inputs get no gradient."""

    supports_fast_path = True
    trainable_weights = ()
    name = "cast_to_float32"

    def forward(self, ctx, x, training, strip=False):
        return _C.cast(x, "float32")

    def backward(self, ctx, dy, need_dx):
        return None, []

    def _output_activation(self):
        return None


_CAST = _CastToFloat()


def with_casts(graph, input_dtypes):
    """``graph`` with a cast step in front of every consumer of an integer input that does not
    accept integers (``Layer.accepts_integer_inputs``); unchanged when every input is float.

    Args:
        graph: a :class:`Graph`.
        input_dtypes: one dtype name per graph input, or None (all float32).

    Returns:
        A :class:`Graph` (a new one when casts were inserted).

    Example:
        >>> g = with_casts(model._graph_spec(), ["int32"])
    """
    int_keys = {k for k, d in zip(graph.inputs, input_dtypes or ()) if d in ("int32", "int64")}
    if not int_keys:
        return graph
    nodes, cast_of = [], {}
    for n in graph.nodes:
        keys = list(n.in_keys)
        if not getattr(n.layer, "accepts_integer_inputs", False):
            for j, k in enumerate(keys):
                if k in int_keys:
                    if k not in cast_of:
                        cast_of[k] = ("cast", k)
                        nodes.append(Node(_CAST, (k,), cast_of[k], False))
                    keys[j] = cast_of[k]
        nodes.append(Node(n.layer, keys, n.out_key, n.multi))
    return Graph(graph.inputs, graph.outputs, nodes)


class GraphPlan:
    """Compiled forward/backward of a :class:`Graph` whose trainable weights are ``params``
    (Tensors; gradients are returned in this order). ``input_dtypes``: one dtype name per graph
    input (default float32); integer inputs are cast for the layers that need floats."""

    # DataParallel sets this to ``fn(i, weight_grads)`` for the duration of a step: called in
    # backward once step i's weight gradients are final, so their allreduce starts early
    grad_hook = None

    def __init__(self, graph, params, inputs_need_grad=False, fuse=True, input_dtypes=None, inference=False):
        graph = with_casts(graph, input_dtypes)
        self.graph = graph
        self.params = list(params)
        pidx = {id(t): i for i, t in enumerate(self.params)}
        consumers = {}
        for n in graph.nodes:
            for k in n.in_keys:
                consumers[k] = consumers.get(k, 0) + 1
        slots = {}

        def slot(k):
            if k not in slots:
                slots[k] = len(slots)
            return slots[k]
        for k in graph.inputs:
            slot(k)
        requires = {slot(k): bool(inputs_need_grad) for k in graph.inputs}

        def make_step(node, impl=None, flags=None, in_keys=None):
            st = _Step()
            in_keys = node.in_keys if in_keys is None else in_keys
            layers = impl.layers if impl is not None and hasattr(impl, "layers") else (node.layer,)
            if impl is None:
                if node.layer.supports_fast_path:
                    impl = node.layer
                    st.tape = False
                else:
                    impl = _TapeStep(node.layer, node.multi)
                    st.tape = True
            else:
                st.tape = False
            st.fwd, st.bwd = impl.forward, impl.backward
            st.in_slots = tuple(slot(k) for k in in_keys)
            st.out_slot = slot(node.out_key)
            st.widx = tuple(pidx[id(w)] for l in layers for w in l.trainable_weights if id(w) in pidx)
            st.need_dx = any(requires.get(s, False) for s in st.in_slots)
            st.active = st.need_dx or bool(st.widx)
            requires[st.out_slot] = st.active
            st.flags = flags
            st.multi = node.multi
            st.mask_in = node.mask_input
            st.mlayer = layers[-1]
            return st
        steps = fusion.apply(graph.nodes, consumers, make_step, inference) if fuse else \
            [make_step(n) for n in graph.nodes]
        self.steps = steps
        # names of the layers that run on the autograd tape (empty: the whole graph is compiled)
        self.tape_layers = [n.layer.name for n in graph.nodes if not n.layer.supports_fast_path]
        self.in_slots = [slots[k] for k in graph.inputs]
        self.out_slots = [slots[k] for k in graph.outputs]
        self.nslots = len(slots)
        # the mask channel (trainers/masks.py): only when some layer can make a mask (or a node
        # takes an explicit one)
        self.masked = _masks.graph_has_masks(graph) or any(n.mask_input for n in graph.nodes)
        self.out_masks = [None] * len(self.out_slots)
        # liveness: free a value after its last consumer (outputs are kept)
        last = {}
        for i, st in enumerate(steps):
            for s in st.in_slots:
                last[s] = i
        keep = set(self.out_slots)
        for st in steps:
            st.free = ()
        for s, i in last.items():
            if s not in keep:
                steps[i].free = steps[i].free + (s,)
        # per output: the layer producing it, if the loss may strip its final softmax/sigmoid
        # (only when nothing else consumes that output and the layer runs the protocol)
        consumed = {s for st in steps for s in st.in_slots}
        by_out = {n.out_key: n.layer for n in graph.nodes}
        self.out_layers = []
        for k in graph.outputs:
            l = by_out.get(k)
            ok = l is not None and slots[k] not in consumed and l.supports_fast_path
            self.out_layers.append(l if ok else None)

    # ------------------------------------------------------------------ running
    def forward(self, xs, training, strip=(), record=True, observe=None, in_masks=None):
        """Run the graph on input Arrays; returns (outputs, contexts for :meth:`backward`).
        ``strip``: output indices whose final softmax/sigmoid is skipped. ``observe``: optional
        ``fn(i, values, ctx)`` called after step i ran, before its dead inputs are dropped
        (:mod:`.memory` measures liveness with it). ``in_masks``: masks of the inputs (a model
        nested in a masked graph), or None."""
        vals = [None] * self.nslots
        for s, x in zip(self.in_slots, xs):
            vals[s] = x
        strip_slots = {self.out_slots[i] for i in strip}
        ctxs = []
        masks = [None] * self.nslots if self.masked else None
        if in_masks is not None and any(m is not None for m in in_masks):
            masks = masks or [None] * self.nslots
            for s, m in zip(self.in_slots, in_masks):
                masks[s] = m
        for st in self.steps:
            ctx = Context()
            if st.flags:
                ctx.__dict__.update(st.flags)
            if st.tape:
                ctx.record, ctx.need_dx = record and training and st.active, st.need_dx
            if st.mask_in:                 # layer(x, mask=m): the value of m (last slot) is the mask
                x = [vals[s] for s in st.in_slots[:-1]] if st.multi else vals[st.in_slots[0]]
                em = _masks.explicit_mask(vals[st.in_slots[-1]])
                in_m = ctx.input_mask = [em] + [None] * (len(st.in_slots) - 2) if st.multi else em
            else:
                x = [vals[s] for s in st.in_slots] if st.multi else vals[st.in_slots[0]]
                if masks is not None:
                    in_m = [masks[s] for s in st.in_slots]
                    in_m = (in_m if st.multi else in_m[0]) if any(m is not None for m in in_m) else None
                    if in_m is not None:
                        ctx.input_mask = in_m
            vals[st.out_slot] = st.fwd(ctx, x, training, st.out_slot in strip_slots)
            if masks is not None:
                masks[st.out_slot] = _masks.step_output_mask(st.mlayer, x, in_m, st.tape, ctx)
            ctxs.append(ctx)
            if observe is not None:
                observe(len(ctxs) - 1, vals, ctx)
            for s in st.free:
                vals[s] = None
                if masks is not None:
                    masks[s] = None
        if masks is not None:
            self.out_masks = [masks[s] for s in self.out_slots]
        return [vals[s] for s in self.out_slots], ctxs

    def backward(self, ctxs, douts):
        """Gradients for the graph inputs and for ``params`` from output gradients ``douts``."""
        g = [None] * self.nslots
        for s, d in zip(self.out_slots, douts):
            if d is not None:
                g[s] = d if g[s] is None else _C.binary("add", g[s], d)
        pg = [None] * len(self.params)
        steps = self.steps
        hook = self.grad_hook
        for i in range(len(steps) - 1, -1, -1):
            if hook is not None and i + 1 < len(steps):
                hook(i + 1, pg)
            st = steps[i]
            dy = g[st.out_slot]
            ctx = ctxs[i]
            ctxs[i] = None
            if dy is None and st.active and getattr(ctx, "extra", None) and getattr(ctx, "out", None) is not None:
                dy = _C.zeros(list(ctx.out.shape), device=ctx.out.data.device)   # add_loss terms only
            if dy is None or not st.active:
                continue
            g[st.out_slot] = None
            dx, gw = st.bwd(ctx, dy, st.need_dx)
            for j, gr in zip(st.widx, gw):
                pg[j] = gr if pg[j] is None else _C.binary("add", pg[j], gr)
            if st.need_dx:
                if not st.multi:
                    if isinstance(dx, list):   # into a multi-output sub-model's value (OutputSelect)
                        s = st.in_slots[0]
                        g[s] = add_grads(g[s], dx, _add)
                    elif dx is not None:
                        s = st.in_slots[0]
                        g[s] = dx if g[s] is None else _C.binary("add", g[s], dx)
                else:
                    for s, d in zip(st.in_slots, dx or ()):
                        if d is not None:
                            g[s] = d if g[s] is None else _C.binary("add", g[s], d)
        return [g[s] for s in self.in_slots], pg

    def memory_report(self, xs, training=False, weights=()):
        """Activation memory of one forward on input Arrays ``xs`` (see :mod:`.memory`)."""
        from .memory import forward_report
        return forward_report(self, xs, training, weights)

    # ------------------------------------------------------------------ training
    def set_losses(self, losses, weights=None):
        """One loss per output (None: the output is not trained); ``weights``: loss_weights."""
        self.losses = list(losses)
        self.loss_weights = list(weights) if weights is not None else [1.0] * len(self.losses)
        self.fuse = []
        for layer, loss in zip(self.out_layers, self.losses):
            act = layer._output_activation() if layer is not None else None
            self.fuse.append(bool(act is not None and loss is not None and
                                  not loss.is_python_loss and
                                  loss.fused_kernel_for(act)))
        self.out_acts = [l._output_activation() if f else None for l, f in zip(self.out_layers, self.fuse)]
        self.strip = tuple(i for i, f in enumerate(self.fuse) if f)
        self.param_arrays = [t.data for t in self.params]

    def output_loss(self, i, out, yb, n, wb, need_grad):
        """(per-sample loss, d loss / d out or None) of output ``i`` (loss weight applied). A
        sequence output with a mask from the latest :meth:`forward` is weighted by it (Keras)."""
        loss = self.losses[i]
        masked = None
        if self.masked and not loss.is_python_loss:
            masked = _masks.masked_loss(loss, out, yb, n, self.out_masks[i], need_grad, self.fuse[i])
        if masked is not None:
            per, g = masked
            if wb is not None:
                per = _C.binary("mul", per, wb)
                if g is not None:
                    gshape = g.shape
                    g = _C.binary("mul", g.reshape(per.shape[0], -1), wb.reshape(-1, 1)).reshape(gshape)
        elif loss.is_python_loss:   # a Python loss (function or overridden call): through the tape
            ot = Tensor._wrap(out)
            ot.requires_grad = need_grad
            with enable_grad() if need_grad else no_grad():
                total = loss._apply(ot, yb, None if wb is None else wb.numpy(), False,
                                    mask=self.out_masks[i] if self.masked else None)
            g = None
            if need_grad:
                total.backward()
                g = ot.grad.data
            per = _C.full([n], float(total.item()))
        else:
            per, g = loss.compute(out, yb, 1.0 / n, need_grad, self.fuse[i])
            if wb is not None:
                per = _C.binary("mul", per, wb)
                if g is not None:
                    gshape = g.shape
                    g = _C.binary("mul", g.reshape(per.shape[0], -1), wb.reshape(-1, 1)).reshape(gshape)
        w = self.loss_weights[i]
        if w != 1.0:
            per = _C.scale(per, float(w))
            if g is not None:
                g = _C.scale(g, float(w))
        return per, g

    def train_step(self, xs, ys, n, wb):
        """One forward + loss + backward: (per-sample loss summed over outputs, per-sample loss
        of each output (None where untrained), outputs, grads)."""
        outs, ctxs = self.forward(xs, True, self.strip)
        per_total, pers, douts = None, [], []
        for i, (o, yb) in enumerate(zip(outs, ys)):
            if self.losses[i] is None or yb is None:
                douts.append(None)
                pers.append(None)
                continue
            per, g = self.output_loss(i, o, yb, n, wb[i] if isinstance(wb, list) else wb, True)
            per_total = per if per_total is None else _C.binary("add", per_total, per)
            pers.append(per)
            douts.append(g)
        extra = [float(e.item()) for c in ctxs for e in (c.__dict__.get("extra") or ())]
        if extra and per_total is not None:   # add_loss() terms join every sample's loss (logs)
            per_total = _C.binary("add", per_total, _C.full([], sum(extra), device=per_total.device))
        elif extra:                           # compiled without a loss: add_loss() is the loss (Keras)
            dev = self.param_arrays[0].device if self.param_arrays else "cpu"
            per_total = _C.full([int(n)], sum(extra), device=dev)
        if per_total is None:                 # no compiled loss, no add_loss() term: nothing to train
            raise ValueError("fit: no loss was compiled and no add_loss() term was added; pass loss=")
        _, grads = self.backward(ctxs, douts)
        for j, gr in enumerate(grads):
            if gr is None:
                p = self.param_arrays[j]
                grads[j] = _C.zeros(list(p.shape), device=p.device)
        return per_total, pers, outs, grads

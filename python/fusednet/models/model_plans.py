"""The compiled-plan side of :class:`~fusednet.models.Model`: building and caching its graph
plans (training, inference with Conv+BN folding, nested), the layer protocol that lets a model
run inside another model's plan, and preparing its input arrays."""
from ..trainers import fusion as _fusion
from ..trainers.data_adapters import flatten, prep_x
from ..trainers.plan import Graph, GraphPlan, Node

__all__ = ["PlanMixin"]


class PlanMixin:
    """Mixin of :class:`~fusednet.models.Model`: plans, the layer protocol, input preparation."""
    # ------------------------------------------------------------------ plan
    def _graph_spec(self):
        """This model as a :class:`~fusednet.trainers.plan.Graph` of layer calls."""
        if self._graph is None:   # subclassed model: its own call() is one tape node
            return Graph([0], [1], [Node(self, (0,), 1, False)])
        return self._graph.spec()

    def _make_plan(self):
        plan = GraphPlan(self._graph_spec(), self.trainable_weights, input_dtypes=self._input_dtypes())
        plan.set_losses(self._out_losses, self._loss_weights)
        return plan

    def _get_plan(self):
        key = (tuple(id(w.data) for w in self.trainable_weights), tuple(id(l) for l in self._out_losses),
               tuple(self._loss_weights or ()), tuple(l.trainable for l in self._flat_layers()),
               _fusion.is_enabled())
        if self._plan_cache is None or self._plan_cache[0] != key:
            self._plan_cache = (key, self._make_plan())
        return self._plan_cache[1]

    def _predict_arrays(self, xs):
        """Inference forward on Array batches (one per input, on the model's device)."""
        return self._predict_fn(len(xs))(xs)

    def _predict_fn(self, n_inputs, folded=False):
        """``_predict_arrays`` with its plan looked up once: predict resolves it once per call
        (not per batch: the cache keys walk every weight) unless batch callbacks may change weights.
        ``folded``: the folded plan (or None) if the caller already looked it up."""
        if n_inputs == 1:
            # Conv+BN folding (layers/fusion.py); None = not applicable
            ip = self._inference_plan() if folded is False else folded
            if ip is not None:
                f = ip.forward
                return lambda xs: [f(xs[0])]
        plan = self._infer_plan()
        return lambda xs: plan.forward(xs, False, record=False)[0]

    def _infer_plan(self):
        key = (tuple(id(w.data) for w in self.weights), _fusion.is_enabled())
        c = self.__dict__.get("_infer_cache")
        if c is None or c[0] != key:
            c = (key, GraphPlan(self._graph_spec(), [], input_dtypes=self._input_dtypes(), inference=True))
            self._infer_cache = c
        return c[1]

    # ------------------------------------------------------------------ layer protocol
    # A model used as a layer of another model runs its own plan inside the outer one.
    def forward(self, ctx, x, training, strip=False):
        plan = self._infer_plan() if not training else self._nested_plan()
        multi = isinstance(x, (list, tuple))
        m = ctx.__dict__.get("input_mask")          # the mask channel crosses into the nested plan
        in_masks = None if m is None else (list(m) if multi else [m])
        outs, ctx.ctxs = plan.forward(list(x) if multi else [x], training, (0,) if strip else (),
                                      in_masks=in_masks)
        if (plan.masked or in_masks is not None) and len(outs) == 1:
            ctx.out_mask = plan.out_masks[0]       # ... and back out (trainers/masks.py)
        ctx.plan, ctx.multi = plan, multi
        return outs[0] if len(outs) == 1 else list(outs)   # several: OutputSelect steps pick them

    def backward(self, ctx, dy, need_dx):
        # dy: one Array, or (several outputs) one entry per output, None where none arrived
        dxs, grads = ctx.plan.backward(ctx.ctxs, list(dy) if isinstance(dy, list) else [dy])
        ctx.ctxs = None
        return (dxs if ctx.multi else dxs[0]), grads

    @property
    def _mask_source(self):
        """A model whose graph makes masks (Embedding(mask_zero), Masking) is a mask source."""
        from ..trainers.masks import graph_has_masks
        return not self._is_subclassed() and self.built and graph_has_masks(self._graph_spec())

    def _is_subclassed(self):
        return self._graph is None and type(self)._graph_spec is PlanMixin._graph_spec

    @property
    def supports_fast_path(self):
        # a subclassed model's maths is its Tensor call(): it runs as one tape node
        return not self._is_subclassed()

    def _output_activation(self):
        chain = self._chain()
        if chain:
            last = chain[-1]
        elif self._graph is not None and len(self._graph.outputs) == 1 and self._graph.outputs[0].layer:
            last = self._graph.outputs[0].layer
        else:
            return None
        return last._output_activation() if last.supports_fast_path else None

    def _nested_plan(self):
        key = (tuple(id(w.data) for w in self.trainable_weights), _fusion.is_enabled(),
               tuple(l.trainable for l in self._flat_layers()))
        c = self.__dict__.get("_nested_cache")
        if c is None or c[0] != key:
            c = (key, GraphPlan(self._graph_spec(), self.trainable_weights, inputs_need_grad=True,
                                input_dtypes=self._input_dtypes()))
            self._nested_cache = c
        return c[1]

    # ------------------------------------------------------------------ data
    def _prepare_inputs(self, x, what):
        """``x`` as float32 host arrays, one per model input, with matching batch sizes; builds
        an unbuilt model from the data and checks the shapes."""
        if x is None:
            raise ValueError(f"{what}: x is None")
        names = self._input_names()
        vals = flatten(x, names, f"{what}: x")
        xs = [prep_x(v, f"{what}: x" if len(names) == 1 else f"{what}: x['{nm}']", dt)
              for v, nm, dt in zip(vals, names, self._input_dtypes())]
        for nm, a in zip(names[1:], xs[1:]):
            if a.shape[0] != xs[0].shape[0]:
                raise ValueError(f"{what}: all inputs must have the same number of samples, got "
                                 f"{[tuple(a.shape) for a in xs]} for {names}")
        self._build_from_data(xs[0].shape if len(xs) == 1 else [a.shape for a in xs])
        self._check_input_shape(xs[0].shape if len(xs) == 1 else [a.shape for a in xs], what)
        return xs

    def _input_dtypes(self):
        """One dtype name per model input: the ``Input(dtype=...)`` (float32 when undeclared)."""
        if self._graph is not None:
            return [t.dtype for t in self._graph.inputs]
        il = self.__dict__.get("_input_layer")
        return [il.dtype if il is not None else "float32"]

    @property
    def accepts_integer_inputs(self):
        """True when some input is declared integer: an outer plan passes integers through."""
        return any(d != "float32" for d in self._input_dtypes())

    def _build_from_data(self, shape):
        if not self.built:
            if isinstance(shape, list):
                self.build([(None,) + tuple(s[1:]) for s in shape])
            else:
                self.build((None,) + tuple(shape[1:]))

    def _check_input_shape(self, shape, what):
        if self._graph is not None:
            self._graph.check_input_shapes(shape if isinstance(shape, list) else [shape], self.name, what)
            return
        exp = self.input_shape
        if exp is None or isinstance(exp, list) or isinstance(shape, list):
            return
        got = (None,) + tuple(shape[1:])
        if len(exp) != len(got) or any(e is not None and e != g for e, g in zip(exp[1:], got[1:])):
            first = self.layers[0].name if self.layers else self.name
            raise ValueError(f"{what}: Input 0 of layer '{first}' is incompatible with the layer: expected "
                             f"shape {tuple(exp)}, but received input with shape {tuple(shape)}")

    # ------------------------------------------------------------------ inference helpers
    # (logic lives in layers/fusion.py and inspect.py)
    def _inference_plan(self, refresh=False):
        """Folded Conv+BN(+ReLU) inference plan (:mod:`fusednet.layers.fusion`), or None."""
        from ..layers import fusion
        if refresh:
            _fusion.new_generation()         # DAG plans refold their Conv+BN steps too
        if self.accepts_integer_inputs:      # the folded plan feeds its first layer directly
            return None
        return fusion.inference_plan(self, refresh)

    def memory_report(self, x, training=None):
        """Measured peak activation bytes of the inference / training plans on the batch ``x``.

        Args:
            x: one input batch. training: None (both plans), True or False (one of them).

        Returns:
            dict ``{"inference": report, "training": report}``, see
            :func:`fusednet.inspect.memory_report`.

        Example:
            >>> model.memory_report(x[:32])["training"]["peak_bytes"]
        """
        from .. import inspect
        return inspect.memory_report(self, x, training)

    def intermediate(self, x, layer_names, batch_size=None):
        """Outputs of the named layer(s) for ``x`` at inference (see :func:`fusednet.inspect.feature_maps`)."""
        from .. import inspect
        return inspect.feature_maps(self, x, layer_names, batch_size)

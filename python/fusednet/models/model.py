"""``Model``: a trainable graph of layers with Keras' API (compile / fit / evaluate / predict /
summary / weights).

Three ways to build one, as in Keras:

* functional: ``Model(inputs, outputs)`` from :func:`fusednet.Input` KerasTensors (one, a list
  or a dict of each; see :mod:`.functional`);
* :class:`~fusednet.models.sequential.Sequential`;
* subclassing: layers assigned as attributes in ``__init__`` are tracked, ``call()`` defines the
  forward with Tensor ops; the whole ``call`` is one tape node of the plan.

Training runs the compiled graph plan (:mod:`fusednet.trainers.plan`) for every model; the loops
are in :mod:`fusednet.trainers.trainer`.
"""
import numpy as np

from .. import _C
from .. import losses as _losses, optimizers as _optimizers
from ..layers.base import KerasTensor, Layer, call_layer
from ..tensor import Tensor, bump_weights_version
from ..trainers.data_adapters import flatten
from ..trainers.trainer import Trainer
from .functional import FunctionalGraph
from .model_config import ConfigMixin
from .model_plans import PlanMixin
from .model_states import StatesMixin
from .multi_output import call_multi_output

__all__ = ["Model"]


def _metrics_module():
    from .. import metrics as _m
    return _m


def _is_metric(v):
    return not isinstance(v, type) and all(hasattr(v, a) for a in ("update_state", "result", "reset_state"))


def _per_output(spec, names, what, default=None):
    """A compile argument given once, as a list, or as a dict keyed by output name -> list."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has key(s) {unknown} that are not outputs; outputs: {names}")
        return [spec.get(k, default) for k in names]
    if isinstance(spec, (list, tuple)) and n > 1:
        if len(spec) != n:
            raise ValueError(f"compile: {what} has {len(spec)} entries, but the model has {n} outputs {names}")
        return list(spec)
    return [spec] * n


class Model(Trainer, PlanMixin, ConfigMixin, StatesMixin, Layer):
    """A trainable graph of layers with Keras' training API.

    Args:
        inputs: an ``Input(...)`` KerasTensor, or a list / dict of them.
        outputs: KerasTensor(s) computed from ``inputs`` by layer calls (one, a list or a dict).
        name: optional model name.

    Example:
        >>> inputs = fusednet.Input(shape=(784,))
        >>> h = Dense(128, activation="relu")(inputs)
        >>> model = fusednet.Model(inputs, Dense(10, activation="softmax")(h))
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(x, y, epochs=5)

        Two inputs, two outputs (losses and weights per output name):

        >>> a, b = fusednet.Input((8,), name="a"), fusednet.Input((4,), name="b")
        >>> h = layers.concatenate([Dense(16)(a), b])
        >>> m = fusednet.Model([a, b], [Dense(3, name="cls")(h), Dense(1, name="reg")(h)])
        >>> m.compile("adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        ...           loss_weights={"cls": 1.0, "reg": 0.5})
        >>> m.fit([xa, xb], {"cls": y_cls, "reg": y_reg})

        Integer inputs and data sources: ``fusednet.Input((20,), dtype="int32")`` keeps token ids
        integer; ``m.fit(fusednet.data.Dataset.from_tensor_slices((x, y)).batch(32))``. A
        subclass overriding ``train_step(self, data)`` / ``test_step`` / ``predict_step`` gets
        it called per batch (see :mod:`fusednet.trainers.steps`).
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        self.__dict__["_tracked"] = []
        super().__init__(name=name, **kwargs)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._out_losses = []
        self._out_metrics = []
        self._loss_weights = None
        self.stop_training = False
        self.history = None
        self._device = "cpu"
        self._plan_cache = None
        self._graph = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model: give both inputs and outputs (or neither, to subclass Model)")
            self._graph = FunctionalGraph(inputs, outputs)
            self.built = True
            self.input_shape = self._graph.inputs[0].shape if len(self._graph.inputs) == 1 else \
                [t.shape for t in self._graph.inputs]

    # ------------------------------------------------------------------ layer tracking (subclassing)
    def __setattr__(self, name, value):
        tracked = self.__dict__.get("_tracked")
        if tracked is not None and not name.startswith("_"):
            vals = value if isinstance(value, (list, tuple)) else [value]
            for v in vals:
                if isinstance(v, Layer) and v is not self and all(v is not t for t in tracked):
                    tracked.append(v)
                elif _is_metric(v):       # metrics set as attributes join model.metrics (Keras 3)
                    ms = self.__dict__.setdefault("_tracked_metrics", [])
                    if all(v is not m for m in ms):
                        ms.append(v)
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        if self._graph is not None:
            return self._graph.layers(include_inputs=True)   # Keras lists a functional model's InputLayers
        return list(self.__dict__.get("_tracked", []))

    def _flat_layers(self):
        return self.layers

    def _chain(self):
        """Layers as a simple chain (each consuming the previous output), or None."""
        if self._graph is None:
            return None
        return self._graph.chain()

    def _input_names(self):
        return self._graph.input_names if self._graph is not None else ["input"]

    def _output_names(self):
        return self._graph.output_names if self._graph is not None else ["output"]

    @property
    def inputs(self):
        """The model's input KerasTensors (functional models), else None."""
        return list(self._graph.inputs) if self._graph is not None else None

    @property
    def outputs(self):
        """The model's output KerasTensors (functional models), else None."""
        return list(self._graph.outputs) if self._graph is not None else None

    @property
    def input(self):
        """Functional models: the input KerasTensor (a list for several); else the first call's."""
        if self._graph is not None:
            return self._graph.inputs[0] if len(self._graph.inputs) == 1 else list(self._graph.inputs)
        return Layer.input.fget(self)

    @property
    def output(self):
        """Functional models: the output KerasTensor (a list for several); else the first call's."""
        if self._graph is not None:
            return self._graph.outputs[0] if len(self._graph.outputs) == 1 else list(self._graph.outputs)
        return Layer.output.fget(self)

    @output.setter
    def output(self, value):
        self._kt_out = value

    @property
    def input_shape(self):
        """Shape of the input (batch axis None); a list for several inputs (Keras)."""
        g = self.__dict__.get("_graph")
        if g is None:
            return self.__dict__.get("_called_input_shape")
        shapes = [tuple(t.shape) for t in g.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @input_shape.setter
    def input_shape(self, value):  # Layer.__call__ records the first call's shape
        self.__dict__["_called_input_shape"] = value

    @property
    def output_shape(self):
        """Shape of the output (batch axis None); a list for several outputs (Keras)."""
        y = self.output
        return [tuple(t.shape) for t in y] if isinstance(y, list) else tuple(y.shape)

    @property
    def input_names(self):
        return list(self._input_names())

    @property
    def output_names(self):
        return list(self._output_names())

    def _pack_inputs(self, values):
        if self._graph is None or self._graph.in_kind == "single":
            return values[0]
        if self._graph.in_kind == "dict":
            return dict(zip(self._graph.input_names, values))
        return list(values)

    def _pack_outputs(self, values):
        return self._graph.pack_outputs(values) if self._graph is not None else values[0]

    def _output_shapes(self, input_shapes):
        if self._graph is not None:
            return [t.shape for t in self._graph.outputs]
        return [self.compute_output_shape(input_shapes[0])]

    def _call_graph(self, xs, training, logits=False):
        return self._graph.call(xs, training, logits)

    def call(self, inputs, training=None):
        if self._graph is None:
            raise NotImplementedError(f"Model '{self.name}': a subclassed Model must implement call()")
        xs = flatten(inputs, self._graph.input_names, f"Model '{self.name}'")
        return self._graph.pack_outputs(self._graph.call(xs, training))

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple)) and inputs and
                                               isinstance(inputs[0], KerasTensor)):
            if self._graph is not None and len(self._graph.outputs) > 1:   # a, b = sub(x)
                return call_multi_output(self, inputs, self._record_call)
            return super().__call__(inputs, training)
        from ..functional import as_tensor
        from ..layers.base import _f32
        self.__dict__.pop("_call_losses", None)
        if self._graph is None:                      # subclassed: user call() on Tensors
            if isinstance(inputs, (list, tuple)):
                xs = [as_tensor(_f32(i)) for i in inputs]
                if not self.built:
                    self.build([tuple(x.shape) for x in xs])
                return call_layer(self, xs, training, **kwargs)
            x = as_tensor(_f32(inputs))
            if not self.built:
                self.build(tuple(x.shape))
            return call_layer(self, x, training, **kwargs)
        vals = flatten(inputs, self._graph.input_names, f"Model '{self.name}'")
        xs = [as_tensor(_as_input_dtype(v, dt)) for v, dt in zip(vals, self._input_dtypes())]
        self._graph.check_input_shapes([x.shape for x in xs], self.name, "call")
        return self._graph.pack_outputs(self._graph.call(xs, training))

    def build(self, input_shape):
        """Subclassed models: run ``call`` once on zeros of ``input_shape`` to create the weights."""
        if self.built:
            return
        if self._graph is None and type(self).call is not Model.call:
            from ..tensor import no_grad
            shapes = input_shape if isinstance(input_shape, list) else [input_shape]
            zs = [Tensor._wrap(_C.zeros([1 if d is None else int(d) for d in s])) for s in shapes]
            self.built = True
            self.input_shape = tuple(input_shape) if not isinstance(input_shape, list) else input_shape
            with no_grad():
                call_layer(self, zs if isinstance(input_shape, list) else zs[0], False)
            return
        self.built = True

    def compute_output_shape(self, input_shape):
        if self._graph is not None:
            if len(self._graph.outputs) == 1:
                return self._graph.outputs[0].shape
            return [t.shape for t in self._graph.outputs]
        if not self.built:
            self.build(input_shape)
        z = _C.zeros([1 if d is None else int(d) for d in input_shape])
        from ..tensor import no_grad
        with no_grad():
            out = call_layer(self, Tensor._wrap(z), False)
        return (input_shape[0],) + tuple(out.shape[1:])

    # ------------------------------------------------------------------ weights
    @property
    def weights(self):
        out, seen = [], set()
        for l in self._flat_layers():
            for w in l.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        for w in self._weights:               # add_weight on a subclassed model itself
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freezing or unfreezing a model sets every layer in it (Keras 3): a frozen
        BatchNormalization then also runs in inference mode inside ``fit``."""
        Layer.trainable.fset(self, value)
        for layer in self._flat_layers():
            layer.trainable = value

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        out, seen = [], set()
        for l in self._flat_layers():
            for w in l.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        for w in Layer.trainable_weights.fget(self):
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        tw = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in tw]

    @property
    def losses(self):
        """Regularization penalties and :meth:`add_loss` losses of the model and all its layers."""
        from ..layers.base import walk_layers
        out = [t for l in walk_layers([l for l in self._flat_layers() if l is not self])
               for t in l._own_losses()]
        out.extend(self.__dict__.get("_call_losses", ()))
        return out

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{what}: model '{self.name}' has not yet been built. Build it first by "
                             f"calling build(input_shape), by giving the first layer an Input/input_shape, "
                             f"or by calling fit()/predict() on a batch of data.")

    def get_weights(self):
        """All weights as a list of NumPy arrays (copies), in layer order."""
        self._require_built("get_weights")
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Copy NumPy arrays into all weights (list length and every shape must match)."""
        self._require_built("set_weights")
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(f"set_weights: model '{self.name}' has {len(mine)} weight arrays, but the "
                             f"provided list has {len(weights)}")
        for i, (w, v) in enumerate(zip(mine, weights)):
            if tuple(np.shape(v)) != tuple(w.shape):
                raise ValueError(f"set_weights: weight {i} ({w.name}) has shape {tuple(w.shape)}, but the "
                                 f"provided array has shape {tuple(np.shape(v))}")
        srcs = []   # convert everything first: a bad array must not leave the model half-assigned
        for i, (w, v) in enumerate(zip(mine, weights)):
            a = np.asarray(v)
            if a.dtype.kind not in "fiub":
                raise TypeError(f"set_weights: weight {i} ({w.name}, shape {tuple(w.shape)}) must be a "
                                f"numeric array, got dtype {a.dtype}")
            srcs.append(_C.asarray(np.ascontiguousarray(a, dtype=np.float32)))
        bump_weights_version()               # cached folded weights must be rebuilt
        for w, src in zip(mine, srcs):
            w.data.copy_(src if w.data.device == "cpu" else src.to(w.data.device))

    def count_params(self):
        self._require_built("count_params")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def get_layer(self, name=None, index=None):
        """Layer by name or index."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} out of range for a model with {len(layers)} layers")
            return layers[index]
        for l in layers:
            if l.name == name:
                return l
        raise ValueError(f"No such layer: {name}. Existing layers are: {[l.name for l in layers]}.")

    def save_weights(self, filepath, overwrite=True):
        """Save all weights (atomic write; delegates to :mod:`fusednet.io`)."""
        import os
        from .. import io as _io
        self._require_built("save_weights")
        if not overwrite and os.path.exists(filepath):
            raise ValueError(f"save_weights: {filepath!r} exists and overwrite=False")
        return _io.save_model_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` (shape-checked)."""
        from .. import io as _io
        self._require_built("load_weights")
        return _io.load_model_weights(self, filepath)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True, device=None):
        """Configure training.

        Args:
            optimizer: name ('adam', 'sgd', ...) or Optimizer instance (Keras default 'rmsprop').
            loss: name ('sparse_categorical_crossentropy', 'mse', ...), Loss instance or callable;
                for several outputs one loss for all, a list (output order) or a dict by output
                name (an output left out of the dict is not trained).
            metrics: list of names/Metric instances (e.g. ['accuracy']); for several outputs a
                list of lists or a dict by output name (a flat list applies to every output).
            loss_weights: scalar weights of the output losses (list or dict by output name).
            device: None/'cpu' or 'cuda[:N]': where weights and training run.
        """
        names = self._output_names()
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                              "weighted_metrics": weighted_metrics}
        self.optimizer = _optimizers.get(optimizer)
        # loss=None is allowed (Keras): a model overriding train_step computes its own loss;
        # the compiled loops then raise a clear error
        losses = _per_output(loss, names, "loss") if loss is not None else [None] * len(names)
        self._out_losses = [_losses.get(l) if l is not None else None for l in losses]
        if loss is not None and all(l is None for l in self._out_losses):
            raise ValueError(f"compile: no output has a loss (outputs: {names})")
        self.loss = self._out_losses[0] if len(names) == 1 else (
            dict(zip(names, self._out_losses)) if isinstance(loss, dict) else list(self._out_losses))
        if loss_weights is None:
            self._loss_weights = [1.0] * len(names)
        else:
            lw = _per_output(loss_weights, names, "loss_weights", default=1.0)
            try:
                self._loss_weights = [float(w) for w in lw]
            except (TypeError, ValueError):
                raise TypeError(f"compile: loss_weights must be numbers, got {loss_weights!r}") from None
        self._metric_spec = metrics
        self._out_metrics = self._make_metrics(metrics, weighted_metrics, names)
        self._metrics = [m for ms in self._out_metrics for m in ms] or None
        self.compiled = True
        self._plan_cache = None
        if device is not None:
            self.to(device)

    def _make_metrics(self, metrics, weighted_metrics, names):
        import copy
        m = _metrics_module()
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            if isinstance(metrics, str):
                raise TypeError(f"compile: metrics must be a list, e.g. metrics=[{metrics!r}]")
            metrics = [metrics]
        if isinstance(metrics, dict):
            per = _per_output(metrics, names, "metrics", default=[])
        elif metrics and len(names) > 1 and all(isinstance(x, (list, tuple)) for x in metrics):
            per = _per_output(list(metrics), names, "metrics")
        else:
            per = [list(metrics or [])] * len(names)
        extra = list(weighted_metrics or [])
        out = []
        for i, ids in enumerate(per):
            ids = [ids] if not isinstance(ids, (list, tuple)) else list(ids)
            ms = []
            for ident in ids + extra:
                if ident is None:
                    continue
                if len(names) > 1 and isinstance(ident, m.Metric):
                    ident = copy.deepcopy(ident)   # one state per output
                ms.append(m.get(ident, loss=self._out_losses[i]))
            out.append(ms)
        return out

    def to(self, device):
        """Move all weights (and optimizer state on the next build) to ``device``."""
        device = str(device)
        if device.startswith("cuda"):
            from .. import cuda
            if not cuda.is_available():
                raise ValueError(f"device {device!r} requested but no CUDA device is available "
                                 f"(fusednet.cuda.is_available() is False)")
        self._device = device
        for w in self.weights:
            if w.data.device != device:
                w.data = w.data.to(device)
        if self.optimizer is not None:
            self.optimizer._vars = None
        self._plan_cache = None
        return self

def _as_input_dtype(v, dtype):
    """An eager call's input converted to its Input's dtype (Keras ``convert_to_tensor``)."""
    from ..layers.base import _f32
    if dtype == "float32":
        v = _f32(v)
        if isinstance(v, (Tensor, _C.Array)) and v.dtype != "float32":
            return _C.cast(v.data if isinstance(v, Tensor) else v, "float32")
        return v
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, _C.Array):
        return v if v.dtype == dtype else _C.cast(v, dtype)
    return np.ascontiguousarray(np.asarray(v), dtype=dtype)

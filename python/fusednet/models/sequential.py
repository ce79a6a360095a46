"""``Sequential``: a linear stack of layers (a chain graph for the plan)."""
from ..layers.base import KerasTensor, Layer
from ..layers.core import InputLayer
from ..trainers.plan import Graph
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``Input(...)``/``InputLayer`` first fixes the input
            shape so the model builds immediately).
        name: optional name (default 'sequential', 'sequential_1', ...).

    Example:
        >>> model = fusednet.Sequential([
        ...     fusednet.Input(shape=(784,)),
        ...     fusednet.layers.Dense(128, activation="relu"),
        ...     fusednet.layers.Dense(10, activation="softmax"),
        ... ])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.fit(x_train, y_train, epochs=5, batch_size=32)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input_layer = None
        self.built = False
        for l in layers or []:
            self.add(l)

    def add(self, layer):
        """Append a layer (or an ``Input(...)`` KerasTensor / InputLayer as the first element)."""
        if isinstance(layer, KerasTensor):
            if layer.layer is None or not isinstance(layer.layer, InputLayer):
                raise TypeError("Sequential.add: only Input(...) KerasTensors can be added")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer instance, got {type(layer).__name__}: {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential.add: an InputLayer/Input may only be the first element")
            self._input_layer = layer
            self.build(layer.batch_shape)
            return
        if any(l is layer for l in self._layers):
            raise ValueError(f"Sequential.add: layer '{layer.name}' is already in the model")
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"Sequential.add: all layers must have unique names; '{layer.name}' is already used")
        self._layers.append(layer)
        self._plan_cache = None
        if not self._layers[:-1] and self._input_layer is None and layer._batch_input_shape is not None:
            self.build(layer._batch_input_shape)
        elif self.built:
            shape = self.input_shape
            for l in self._layers[:-1]:
                shape = l.compute_output_shape(shape)
            layer._maybe_build(shape)
            layer._check_input(shape)

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise ValueError("Sequential.pop: there are no layers to remove")
        self._plan_cache = None
        return self._layers.pop()

    @property
    def layers(self):
        return list(self._layers)

    # ------------------------------------------------------------------ symbolic view (Keras)
    def _symbolic(self):
        """(input KerasTensor, output KerasTensor) of the chain, made once per layer list: so
        ``model.inputs/outputs`` and every ``layer.output`` exist, as for a Keras Sequential
        (``Model(model.inputs, [l.output for l in model.layers])`` builds a feature extractor)."""
        if not self.built:
            raise ValueError(f"Sequential '{self.name}' has no defined input yet: start it with "
                             f"Input(shape=...) or call build(input_shape) / the model first")
        key = tuple(id(l) for l in self._layers)
        cache = self.__dict__.get("_sym")
        if cache is None or cache[0] != key:
            if self._input_layer is not None:
                inp = self._input_layer.output
            else:
                shape = tuple(self.input_shape)
                inp = InputLayer(shape=shape[1:], batch_size=shape[0]).output
            x = inp
            for layer in self._layers:
                x = layer(x)
            cache = self.__dict__["_sym"] = (key, inp, x)
        return cache[1], cache[2]

    @property
    def inputs(self):
        return [self._symbolic()[0]]

    @property
    def outputs(self):
        return [self._symbolic()[1]]

    @property
    def input(self):
        return self._symbolic()[0]

    @property
    def output(self):
        return self._symbolic()[1]

    @output.setter
    def output(self, value):
        self._kt_out = value

    def _chain(self):
        return list(self._layers)

    def _graph_spec(self):
        return Graph.chain(self._layers)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included)."""
        if input_shape is None:
            if self._input_layer is not None:
                input_shape = self._input_layer.batch_shape
            else:
                raise ValueError(f"build: model '{self.name}' needs an input shape")
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(f"build: input_shape must include the batch axis, e.g. (None, 784); got {shape}")
        self.input_shape = shape
        for l in self._layers:
            l._maybe_build(shape)
            l._check_input(shape)
            shape = l.compute_output_shape(shape)
        self.built = True

    def _call_graph(self, xs, training, logits=False):
        return [self._call_chain(xs[0], training, logits)]

    def _call_chain(self, x, training, logits=False):
        last = len(self._layers) - 1
        for i, l in enumerate(self._layers):
            if logits and i == last and hasattr(l, "_call_logits"):
                x = l._call_logits(x)
            else:
                x = l(x, training=training)
        return x

    def call(self, inputs, training=None):
        return self._call_chain(inputs, training)

    def __call__(self, inputs, training=None, **kwargs):
        if isinstance(inputs, KerasTensor):     # one node of the outer graph (Keras)
            return Model.__call__(self, inputs, training, **kwargs)
        from ..functional import as_tensor
        from ..layers.base import _f32
        x = as_tensor(_f32(inputs))
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        self._check_input_shape(x.shape, "call")
        return self.call(x, training=training)

    def _check_input(self, shape):
        """Called on a KerasTensor: the same shape check as on data."""
        self._check_input_shape(shape, "call")

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for l in self._layers:
            shape = l.compute_output_shape(shape)
        return shape

    def get_config(self):
        """Keras 3's Sequential config: ``{"name", "trainable", "layers": [serialised layers, an
        InputLayer first when the model has one], "build_input_shape"}``."""
        from ..layers import serialize
        layers = [serialize(l) for l in self._layers]
        if self._input_layer is not None:
            layers.insert(0, serialize(self._input_layer))
        cfg = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self.input_shape is not None:
            cfg["build_input_shape"] = list(self.input_shape)
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from :meth:`get_config` (also reads the older ``input_shape`` key)."""
        from ..saving import deserialize_keras_object
        from ..saving.registration import CustomObjectScope
        m = cls(name=config.get("name"))
        with CustomObjectScope(custom_objects):
            for i, lc in enumerate(config["layers"]):
                if isinstance(lc, dict) and lc.get("class_name") == "InputLayer":
                    m.add(InputLayer.from_config(lc["config"]))
                    continue
                if isinstance(lc, dict) and lc.get("module") is None:
                    lc = {**lc, "module": "fusednet.layers"}
                try:
                    m.add(deserialize_keras_object(lc, custom_objects))
                except (TypeError, ValueError) as e:
                    what = lc.get("class_name") if isinstance(lc, dict) else lc
                    raise ValueError(f"Sequential '{m.name}': cannot rebuild layers[{i}] ({what}): {e}") from e
        shape = config.get("build_input_shape", config.get("input_shape"))
        if shape is not None and not m.built:
            m.build(tuple(shape))
        if not config.get("trainable", True):
            m.trainable = False
        return m

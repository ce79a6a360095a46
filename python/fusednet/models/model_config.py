"""The description side of :class:`~fusednet.models.Model`: ``summary()``, ``get_config`` /
``from_config`` / ``to_json``, the compile config and ``save``."""
import numpy as np

from .functional import graph_config, graph_from_config, is_graph_config

__all__ = ["ConfigMixin"]


class ConfigMixin:
    """Mixin of :class:`~fusednet.models.Model`: summary, configs, saving."""
    # ------------------------------------------------------------------ summary
    def _summary_rows(self):
        """(name (type), output shape, params, layer) per row; an unbuilt model shows Keras'
        ``?`` / ``0 (unbuilt)`` for the layers not built yet."""
        rows = []
        if not self.built:
            for l in self.layers:
                built = getattr(l, "built", False)
                rows.append((f"{l.name} ({type(l).__name__})", "?",
                             f"{l.count_params():,}" if built else "0 (unbuilt)", l))
            return rows
        if self._graph is not None and self._chain() is None:
            calls = self._graph.calls()
            for t in calls:
                if type(t.layer).__name__ == "OutputSelect":
                    continue                       # shown as the multi-output sub-model's shapes
                sub = getattr(t.layer, "_graph", None)
                shape = [o.shape for o in sub.outputs] if sub is not None and len(sub.outputs) > 1 else t.shape
                if sub is None and getattr(t.layer, "return_state", False):   # [output, states...]
                    ins = [p.shape for p in t.inputs]
                    shape = t.layer._state_shapes(ins if len(ins) > 1 else ins[0])
                rows.append((f"{t.layer.name} ({type(t.layer).__name__})", str(shape),
                             f"{t.layer.count_params():,}", t.layer))
            return rows
        shape = tuple(self.input_shape) if self.input_shape is not None and \
            not isinstance(self.input_shape, list) else None
        for l in self.layers:
            shape = l.compute_output_shape(shape) if shape is not None else None
            rows.append((f"{l.name} ({type(l).__name__})", str(shape),
                         f"{l.count_params() if l.built else 0:,}", l))
        return rows

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print a Keras-like table: Layer (type), Output Shape, Param # (and Trainable), totals.

        Args:
            line_length: unused (the table is as wide as its widest row); Keras signature.
            positions: unused (column widths follow the content); Keras signature.
            print_fn: called with each line (default ``print``).
            expand_nested: not supported: a nested model is one row (raises if True).
            show_trainable: add a ``Trainable`` column: Y, N, or - for layers without weights.
            layer_range: not supported (raises if given).

        An unbuilt model (a Sequential without an input shape, a subclassed model not yet
        called) prints its layers with ``?`` shapes and ``0 (unbuilt)`` params, as Keras does.

        Example:
            >>> model.summary(show_trainable=True)
        """
        if expand_nested or layer_range is not None:
            raise ValueError(f"summary: model '{self.name}': expand_nested and layer_range are not supported")
        print_fn = print_fn or print
        rows = self._summary_rows()
        w1 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 3
        w2 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 3
        w3 = max([len("Param #")] + [len(r[2]) for r in rows])
        w4 = len("Trainable") + 2 if show_trainable else 0
        width = w1 + w2 + w3 + w4
        if self.built:
            total = self.count_params()
            trainable = int(sum(int(np.prod(w.shape)) for w in self.trainable_weights))
        else:  # the layers built so far (Keras counts the same)
            built = [l for l in self.layers if getattr(l, "built", False)]
            total = int(sum(l.count_params() for l in built))
            trainable = int(sum(int(np.prod(w.shape)) for l in built for w in l.trainable_weights))
        head = "Layer (type)".ljust(w1) + "Output Shape".ljust(w2) + "Param #".rjust(w3)
        if show_trainable:
            head += "Trainable".center(w4)
        lines = [f'Model: "{self.name}"', "┏" + "━" * width + "┓", "┃" + head + "┃",
                 "┡" + "━" * width + "┩"]
        for a, b, c, layer in rows:
            line = a.ljust(w1) + b.ljust(w2) + c.rjust(w3)
            if show_trainable:
                flag = "-" if not layer.weights else ("Y" if layer.trainable else "N")
                line += flag.center(w4)
            lines.append("│" + line + "│")
        lines.append("└" + "─" * width + "┘")
        lines.append(f" Total params: {total:,} ({_fmt_bytes(total * 4)})")
        lines.append(f" Trainable params: {trainable:,} ({_fmt_bytes(trainable * 4)})")
        lines.append(f" Non-trainable params: {total - trainable:,} ({_fmt_bytes((total - trainable) * 4)})")
        for ln in lines:
            print_fn(ln)

    # ------------------------------------------------------------------ config and saving
    def get_config(self):
        """Functional models: Keras 3's functional config (layers with their inbound nodes,
        ``input_layers``, ``output_layers``); subclassed models: ``name`` and ``trainable`` (a
        subclass taking constructor arguments overrides this to return them)."""
        if self._graph is not None:
            return graph_config(self._graph, self.name, self.trainable)
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from :meth:`get_config`: a functional config rebuilds the same graph (shared
        layers, nested models, several inputs/outputs); otherwise ``cls(**config)``.

        Example:
            >>> clone = fusednet.Model.from_config(model.get_config())
            >>> clone.set_weights(model.get_weights())
        """
        if is_graph_config(config):
            from ..saving.registration import CustomObjectScope
            with CustomObjectScope(custom_objects):
                inputs, outputs = graph_from_config(config, custom_objects)
            from .model import Model
            target = cls if cls.__init__ is Model.__init__ else Model
            m = target(inputs=inputs, outputs=outputs, name=config.get("name"))
            if not config.get("trainable", True):
                m.trainable = False
            return m
        from ..saving.model_config import subclass_from_config
        return subclass_from_config(cls, config)

    def to_json(self, **kwargs):
        """The architecture as JSON (``fusednet.models.model_from_json`` rebuilds it).

        Args:
            **kwargs: passed to ``json.dumps`` (e.g. ``indent=2``).

        Returns:
            str

        Example:
            >>> clone = fusednet.models.model_from_json(model.to_json())
        """
        import json
        from ..saving import serialize_keras_object
        cfg = serialize_keras_object(self)
        if self.input_shape is not None and self._graph is None:
            shp = self.input_shape
            cfg["build_config"] = {"input_shape": [[None] + list(s[1:]) for s in shp]
                                   if isinstance(shp, list) else [None] + list(shp[1:])}
        return json.dumps(cfg, **kwargs)

    def get_compile_config(self):
        """The arguments ``compile`` was given, serialised (None before ``compile``)."""
        from ..saving.model_config import compile_config
        return compile_config(self)

    def compile_from_config(self, config):
        """``compile`` again from :meth:`get_compile_config`'s dict."""
        from ..saving.model_config import compile_from_config
        compile_from_config(self, config)

    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """Save architecture, weights, compile config and optimizer state to ``filepath``
        (``.keras`` or ``.fnet``; see :func:`fusednet.saving.save_model`).

        Args:
            filepath: destination ending in ``.keras`` or ``.fnet``.
            overwrite: when False and the file exists, raise ``FileExistsError``.
            include_optimizer: also store the optimizer state (training resumes bit for bit).

        Example:
            >>> model.save("mnist.keras")
            >>> model = fusednet.models.load_model("mnist.keras")
        """
        from ..saving import save_model
        return save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)

    def export(self, filepath, format="onnx", verbose=True, **kwargs):
        """Export the inference graph to ``filepath`` (Keras 3's ``model.export``).

        Args:
            filepath: destination file.
            format: only ``"onnx"`` (Keras's ``"tf_saved_model"`` needs TensorFlow: not supported).
            verbose: unused (Keras signature).
            **kwargs: ``opset`` (17..21), ``dynamic_batch`` (default True); see
                :func:`fusednet.io.onnx.export_onnx`.

        Returns:
            ``filepath``.

        Example:
            >>> model.export("model.onnx", format="onnx")
        """
        if format != "onnx":
            raise ValueError(f"Model.export: format {format!r} is not supported; the only format is 'onnx' "
                             f"('tf_saved_model' needs TensorFlow and is not supported)")
        from ..io.onnx import export_onnx
        return export_onnx(self, filepath, **kwargs)


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0

"""ONNX export: ``export_onnx(model, path)`` / ``model.export(path, format="onnx")``.

Needs the optional ``onnx`` package (``pip install fusednet[onnx]``). Converters are registered per
layer class (:func:`register_converter`); this package's modules register the built-in layers:
:mod:`.core` (Dense, activations, reshapes, identities, merges), :mod:`.conv` (Conv2D family, padding/cropping,
pooling, BatchNormalization), :mod:`.norm` (LayerNormalization, Normalization), :mod:`.recurrent` (Embedding,
SimpleRNN/LSTM/GRU, Bidirectional), :mod:`.attention` (MultiHeadAttention, position embeddings).

Example:
    >>> from fusednet.io.onnx import export_onnx
    >>> export_onnx(model, "model.onnx", opset=17, dynamic_batch=True)
"""
from ._registry import register_converter, get_converter, ExportContext, MIN_OPSET, MAX_OPSET
from ._walker import export_onnx, to_onnx_model
from . import core, conv, conv_extra, norm, recurrent, attention, shape  # noqa: F401  (register the built-in converters)

__all__ = ["export_onnx", "to_onnx_model", "register_converter", "get_converter", "ExportContext",
           "MIN_OPSET", "MAX_OPSET"]

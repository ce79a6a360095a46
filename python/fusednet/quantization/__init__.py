"""Post-training int8 quantization (issue 13): :func:`quantize` turns a trained model's Dense /
Conv2D layers into int8 :class:`QuantizedDense` / :class:`QuantizedConv2D` (per-channel symmetric
weights; dynamic or calibrated static uint8 activations; BatchNormalization folded into the conv
before it). Native kernels: AVX-512 VNNI / AVX2 / portable int8 GEMM (csrc/cpu/qgemm.*).
See docs/QUANTIZATION.md.
"""
from .layers import Int8Weight, QuantizedConv2D, QuantizedDense
from .post_training import activation_qparams, quantize, quantize_weights
from . import onnx_qdq  # noqa: F401,E402  (registers the QDQ converters with fusednet.io.onnx)

__all__ = ["quantize", "quantize_weights", "activation_qparams", "QuantizedDense", "QuantizedConv2D",
           "Int8Weight"]

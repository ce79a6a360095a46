"""fusednet: deep learning whose hot loops are hand-written C++/CUDA kernels, Keras-shaped API.

The namespace mirrors Keras 3::

    fusednet.layers  models (Sequential, Model)  losses  optimizers (+ optimizers.schedules)
    metrics  callbacks  initializers  regularizers  schedules  activations
    datasets  data  io  saving  utils  random

plus the native side: ``fusednet.Array`` (the device array), ``asarray``, ``from_dlpack``,
``fusednet.ops`` (Keras' ``keras.ops`` on Tensors, plus the raw GEMM kernel calls on Arrays), ``fusednet._C`` (the raw extension) and
``fusednet.cuda`` (device queries). ``Tensor`` is the autograd wrapper used by custom layers.
"""
from . import _C
from ._C import Array, from_dlpack, set_num_threads, get_num_threads
from ._C import set_matmul_precision, get_matmul_precision  # 'highest' (FP32) | 'high' (TF32 on CUDA)

__version__ = "0.1.0"


def asarray(obj, dtype=None, device=None, copy=None):
    """Convert `obj` to a :class:`fusednet.Array`.

    A C-contiguous NumPy array of float32/int32/int64 is wrapped without copying (the Array
    shares its memory). Other inputs are converted with a copy: floating dtypes become float32,
    integer and bool dtypes int64 (int32 stays int32). Objects speaking DLPack (PyTorch, JAX,
    CuPy) are imported without copying when contiguous.

    Args:
        obj: NumPy array, Array, DLPack-capable tensor, or nested sequence.
        dtype: 'float32', 'int32', 'int64' (or the NumPy equivalents); None keeps the above rules.
        device: 'cpu', 'cuda' or 'cuda:N'; None keeps the input's device (CPU for NumPy input).
        copy: True always copies; False raises if a copy would be needed; None copies only if needed.
    """
    return _C.asarray(obj, dtype=dtype, device=device, copy=copy)


from . import cuda  # noqa: E402
from . import ops  # noqa: E402
from . import random  # noqa: E402
from .tensor import Tensor, Function, GradientTape, no_grad, enable_grad, is_grad_enabled, tensor  # noqa: E402
from .variables import Variable  # noqa: E402
from . import activations  # noqa: E402
from . import functional  # noqa: E402
from . import initializers, regularizers, losses, schedules, optimizers  # noqa: E402
from . import layers  # noqa: E402
from .layers import Input  # noqa: E402
from .layers.base import clear_session  # noqa: E402
from . import models  # noqa: E402
from .models import Model, Sequential  # noqa: E402
from . import metrics, callbacks  # noqa: E402
from . import data, datasets, io, utils  # noqa: E402
from . import saving  # noqa: E402
from . import applications  # noqa: E402
from . import text  # noqa: E402
from . import preprocessing  # noqa: E402
from . import pruning  # noqa: E402
from . import quantization  # noqa: E402
from . import distribution  # noqa: E402

# Keras spells the schedules module ``keras.optimizers.schedules``: the same module object.
if not hasattr(optimizers, "schedules"):
    optimizers.schedules = schedules

__all__ = [
    "Array", "Tensor", "Variable", "Function", "GradientTape", "asarray", "from_dlpack", "tensor",
    "Model", "Sequential", "Input", "clear_session",
    "layers", "models", "losses", "optimizers", "metrics", "callbacks", "initializers",
    "regularizers", "schedules", "activations", "datasets", "data", "io", "saving", "utils", "random",
    "cuda", "ops", "functional", "applications", "text", "preprocessing", "pruning", "quantization",
    "distribution",
    "no_grad", "enable_grad", "is_grad_enabled",
    "set_num_threads", "get_num_threads", "set_matmul_precision", "get_matmul_precision",
    "__version__",
]

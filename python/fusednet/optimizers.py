"""Optimizers with Keras 3 names, defaults and update formulas.

Every step is ONE multi-tensor native call over all parameters (``_C.adam_step`` ...); gradient
clipping (``clipnorm`` per tensor, ``clipvalue``, ``global_clipnorm``) is one more native call
when enabled. Pruning masks (``fusednet.pruning``) are passed to that same call (``masks=``): the
kernel zeroes pruned weights and their optimizer state in its update loop, no extra pass. Learning-rate schedules are evaluated on the host (one float per step).

Example:
    >>> opt = fusednet.optimizers.Adam(learning_rate=1e-3)
    >>> opt.apply_gradients(zip(grads, variables))     # Tensors (weights) and their gradients
"""
from . import _C
from . import schedules as _schedules
from .tensor import WEIGHTS_VERSION as _WV, Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize"]


def _arr(x):
    return x.data if isinstance(x, Tensor) else x


class Optimizer:
    """Base optimizer.

    Args:
        learning_rate: float or :class:`fusednet.schedules.LearningRateSchedule`.
        weight_decay: decoupled weight decay (p -= lr·wd·p before the update), as in Keras 3.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients jointly to this global L2 norm.
        name: optional name.
    """

    _slot_names = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): {bad}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"{type(self).__name__}: set at most one of clipnorm and global_clipnorm")
        for nm, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if v is not None and not v > 0:
                raise ValueError(f"{type(self).__name__}: {nm} must be > 0, got {v}")
        if isinstance(learning_rate, _schedules.LearningRateSchedule):
            self._schedule = learning_rate
            self._lr = None
        else:
            lr = float(learning_rate)
            if not lr >= 0:
                raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0, got {learning_rate}")
            self._schedule = None
            self._lr = lr
        self.weight_decay = float(weight_decay) if weight_decay else 0.0
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._vars = None      # list of Arrays being optimised (identity of the slots)
        self._slots = {}
        self._pruning = None   # fusednet.pruning.Pruner: masks for the fused step, schedule after it

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate the next step will use."""
        if self._schedule is not None:
            return self._schedule(self.iterations)
        return self._lr

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, _schedules.LearningRateSchedule):
            self._schedule, self._lr = value, None
        else:
            self._schedule, self._lr = None, float(value)

    # ------------------------------------------------------------------ state
    def build(self, variables):
        """Create the slot arrays (zeros shaped like each variable)."""
        self._vars = [_arr(v) for v in variables]
        self._slots = {}
        for name in self._slot_names:
            self._slots[name] = [self._init_slot(name, v) for v in self._vars]
        self.built = True

    def _init_slot(self, name, v):
        return _C.zeros(list(v.shape), device=v.device)

    @property
    def variables(self):
        out = []
        for name in self._slot_names:
            out.extend(self._slots.get(name, []))
        return out

    # ------------------------------------------------------------------ apply
    def apply_gradients(self, grads_and_vars):
        """Keras API: apply ``[(grad, variable), ...]`` (Tensors or Arrays)."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        grads = [_arr(g) for g, _ in pairs]
        params = [_arr(v) for _, v in pairs]
        self.apply(grads, params)
        return self.iterations

    def apply(self, grads, params):
        """Update ``params`` (Arrays) in place from ``grads`` (Arrays); one native call."""
        if self._vars is None or len(self._vars) != len(params) or any(
                a is not b for a, b in zip(self._vars, params)):
            self._check_match(params)
        self._apply_arrays(params, grads)

    def _check_match(self, params):
        if self._vars is None:
            self.build(params)
            return
        # same variables in a new list object, or a different set: rebuild when shapes differ
        if len(self._vars) != len(params) or any(
                tuple(a.shape) != tuple(b.shape) or a.data_ptr != b.data_ptr for a, b in zip(self._vars, params)):
            if self.iterations:
                raise ValueError(f"{self.name}: apply() was called with a different set of variables "
                                 f"({len(params)}) than it was built for ({len(self._vars)})")
            self.build(params)
        else:
            self._vars = list(params)

    def _apply_arrays(self, params, grads):
        """Hot path: clip (if configured), then one fused update kernel, iterations += 1."""
        _WV[0] += 1
        if self.clipvalue is not None:
            _C.clip_by_value_(grads, float(self.clipvalue))
        if self.clipnorm is not None:
            _C.clip_by_norm_(grads, float(self.clipnorm))
        elif self.global_clipnorm is not None:
            n = _C.global_norm(grads)
            if n > self.global_clipnorm:
                _C.scale_(grads, float(self.global_clipnorm) / n)
        lr = self._lr if self._schedule is None else float(self._schedule(self.iterations))
        self.iterations += 1
        pr = self._pruning
        if pr is None:
            self._step(params, grads, lr)
            return
        self._step(params, grads, lr, masks=pr.masks_for(params))
        pr.after_step()

    def _step(self, params, grads, lr, masks=None):  # pragma: no cover
        """One native update of every param; ``masks``: None or one mask Array/None per param
        (pruned entries and their optimizer state become 0 inside the same kernel)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ config
    def get_config(self):
        if self._schedule is not None:
            from .saving import serialize_keras_object
            lr = serialize_keras_object(self._schedule)
        else:
            lr = self._lr
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay or None,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            from .saving import deserialize_keras_object
            if lr.get("module") is None:
                lr = {**lr, "module": _schedules.__name__}
            config["learning_rate"] = deserialize_keras_object(lr)
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Keras 3: v = momentum·v - lr·g; p += v (Nesterov: p += momentum·v - lr·g); without momentum
    p -= lr·g.

    Args:
        learning_rate=0.01, momentum=0.0, nesterov=False, plus :class:`Optimizer` args.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum > 0 else ()

    def _step(self, params, grads, lr, masks=None):
        vel = self._slots["momentum"] if self.momentum > 0 else None
        _C.sgd_step(params, grads, vel, lr, self.momentum, self.nesterov, self.weight_decay, masks)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Keras 3): m += (g-m)(1-β1); v += (g²-v)(1-β2);
    p -= lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε).

    Args:
        learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, plus
        :class:`Optimizer` args.
    """

    _slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        if self.amsgrad:
            self._slot_names = ("m", "v", "vhat")

    def _step(self, params, grads, lr, masks=None):
        s = self._slots
        _C.adam_step(params, grads, s["m"], s["v"], lr, self.beta_1, self.beta_2, self.epsilon,
                     self.iterations, self.weight_decay, s["vhat"] if self.amsgrad else None, masks)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras 3 default weight_decay=0.004)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        if weight_decay is None or weight_decay < 0:
            raise ValueError(f"AdamW: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Keras 3): v = ρv + (1-ρ)g²; (centered: a = ρa + (1-ρ)g, denominator v - a²);
    inc = lr·g/sqrt(denominator + ε); with momentum m = μm + inc, p -= m; else p -= inc.

    Args:
        learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)
        names = ["velocity"]
        if self.momentum > 0:
            names.append("momentum")
        if self.centered:
            names.append("average_gradient")
        self._slot_names = tuple(names)

    def _step(self, params, grads, lr, masks=None):
        s = self._slots
        if self.weight_decay:
            for p in params:
                _C.axpy_(p, -lr * self.weight_decay, p)
        _C.rmsprop_step(params, grads, s["velocity"], s.get("momentum"), s.get("average_gradient"),
                        lr, self.rho, self.momentum, self.epsilon, 0.0, masks)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Keras 3): acc += g²; p -= lr·g/sqrt(acc + ε).

    Args:
        learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7.
    """

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _init_slot(self, name, v):
        return _C.full(list(v.shape), self.initial_accumulator_value, device=v.device)

    def _step(self, params, grads, lr, masks=None):
        if self.weight_decay:
            for p in params:
                _C.axpy_(p, -lr * self.weight_decay, p)
        _C.adagrad_step(params, grads, self._slots["accumulator"], lr, self.epsilon, 0.0, masks)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_ALIASES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """Resolve 'adam', 'sgd', 'rmsprop', 'adagrad', 'adamw', a class, an instance or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        cls = _ALIASES.get(identifier["class_name"].lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier['class_name']!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}; valid names: {', '.join(sorted(_ALIASES))}")
        return cls()
    raise TypeError(f"Could not interpret optimizer identifier {identifier!r}")


def serialize(opt):
    return {"class_name": type(opt).__name__, "config": opt.get_config()}

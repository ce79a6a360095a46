"""Training callbacks with Keras 3 hook names and semantics.

``Model.fit`` wraps its callbacks in a :class:`CallbackList` (adding :class:`History` and
:class:`ProgbarLogger`), calls ``set_model``/``set_params`` and then the hooks
``on_train_begin``, ``on_epoch_begin``, ``on_train_batch_begin/end``, ``on_test_*`` (validation),
``on_epoch_end`` and ``on_train_end``. A callback stops training by setting
``model.stop_training = True``.

The model is duck-typed: callbacks use only ``get_weights()``, ``set_weights()``,
``optimizer.learning_rate``, ``stop_training``, ``save_weights()``/``save()`` (falling back to
:mod:`fusednet.io`) and, optionally, ``metrics`` (to infer whether a monitored metric goes up).
"""
from .base import _HOOKS, Callback, CallbackList, History  # noqa: F401  (_HOOKS: the hook names, for tests)
from .progbar import ProgbarLogger
from .early_stopping import EarlyStopping
from .model_checkpoint import ModelCheckpoint
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .logging import CSVLogger, LambdaCallback, TerminateOnNaN
from .tensorboard import TensorBoard
from .backup_and_restore import BackupAndRestore

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback", "TensorBoard",
           "BackupAndRestore"]

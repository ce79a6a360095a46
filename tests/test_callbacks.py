"""fusednet.callbacks against a fake model (no dependency on the training loop)."""
import csv
import io
import math
import warnings

import numpy as np
import pytest

from fusednet import callbacks as C
from fusednet import io as fio
from fusednet.utils import Progbar


class Opt:
    def __init__(self, lr=0.1):
        self.learning_rate = lr


class FakeModel:
    def __init__(self):
        self.w = [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)]
        self.optimizer = Opt()
        self.stop_training = False

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, ws):
        self.w = [np.array(a, np.float32) for a in ws]


def run(callbacks, logs_per_epoch, model=None, steps=2):
    """Drive hooks like fit: epochs stop when model.stop_training is set; epoch weights = epoch index."""
    model = model or FakeModel()
    cbl = C.CallbackList(callbacks, add_history=True, model=model, verbose=0, epochs=len(logs_per_epoch),
                         steps=steps)
    model.stop_training = False
    cbl.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch):
        cbl.on_epoch_begin(epoch)
        for b in range(steps):
            cbl.on_train_batch_begin(b)
            model.w = [np.full_like(a, epoch) for a in model.w]
            cbl.on_train_batch_end(b, {"loss": logs.get("loss", 0.0)})
        cbl.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cbl.on_train_end()
    return model, cbl


def test_callback_base_and_list_dispatch():
    calls = []

    class Rec(C.Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *a, **k: calls.append(name)
            return object.__getattribute__(self, name)
    m = FakeModel()
    cbl = C.CallbackList([Rec()], add_history=True, add_progbar=True, model=m, verbose=0, epochs=1, steps=1)
    assert isinstance(cbl.callbacks[1], C.History) and isinstance(cbl.callbacks[2], C.ProgbarLogger)
    assert cbl.callbacks[0].model is m and cbl.callbacks[0].params["epochs"] == 1
    for h in C._HOOKS:
        args = (0,) if ("epoch" in h or "batch" in h) else ()
        getattr(cbl, h)(*args, {})
    assert calls == list(C._HOOKS)
    # an explicit History is reused, not duplicated
    h = C.History()
    assert C.CallbackList([h], add_history=True).callbacks == [h]


def test_history_sets_model_history():
    m, cbl = run([], [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}])
    assert m.history.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]}
    assert m.history.epoch == [0, 1]


def test_early_stopping_patience_and_restore(capsys):
    es = C.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    vals = [1.0, 0.5, 0.6, 0.7, 0.4, 0.3]
    m, cbl = run([es], [{"val_loss": v} for v in vals])
    assert m.history.epoch == [0, 1, 2, 3]
    assert es.stopped_epoch == 3 and es.best == 0.5 and es.best_epoch == 1
    assert float(m.w[0][0, 0]) == 1.0  # weights of epoch 1 restored
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out and "best epoch: 2" in out


def test_early_stopping_modes_delta_baseline_start():
    es = C.EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    m, _ = run([es], [{"val_accuracy": v} for v in [0.5, 0.52, 0.9, 0.91, 0.92]])
    assert m.history.epoch == [0, 1]  # +0.02 is below min_delta
    es = C.EarlyStopping(monitor="val_loss", patience=2, baseline=0.1)
    m, _ = run([es], [{"val_loss": v} for v in [1.0, 0.5, 0.5, 0.5, 0.5]])
    assert m.history.epoch == [0, 1, 2]  # never beat the baseline: wait kept counting
    es = C.EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    m, _ = run([es], [{"loss": v} for v in [1.0, 2.0, 3.0, 4.0, 5.0]])
    assert m.history.epoch == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="mode='max'"):
        run([C.EarlyStopping(monitor="weird")], [{"weird": 1.0}, {"weird": 2.0}])
    es = C.EarlyStopping(monitor="weird", mode="max", patience=0)
    m, _ = run([es], [{"weird": v} for v in [1.0, 2.0, 1.0, 3.0]])
    assert m.history.epoch == [0, 1, 2]


def test_early_stopping_missing_monitor_warns():
    with pytest.warns(UserWarning, match="not available"):
        m, _ = run([C.EarlyStopping()], [{"loss": 1.0}, {"loss": 1.0}])
    assert m.history.epoch == [0, 1]


def test_model_checkpoint_formatting_best_only(tmp_path, capsys):
    pattern = str(tmp_path / "ckpt" / "w-{epoch:02d}-{val_loss:.2f}.weights.safetensors")
    cb = C.ModelCheckpoint(pattern, save_weights_only=True)
    run([cb], [{"val_loss": 0.5}, {"val_loss": 0.25}])
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["w-01-0.50.weights.safetensors", "w-02-0.25.weights.safetensors"]
    w = fio.load_weights(tmp_path / "ckpt" / "w-02-0.25.weights.safetensors")
    assert float(list(w.values())[0][0, 0]) == 1.0

    best = tmp_path / "best.weights.safetensors"
    cb = C.ModelCheckpoint(str(best), monitor="val_acc", save_best_only=True, save_weights_only=True, verbose=1)
    run([cb], [{"val_acc": v} for v in [0.5, 0.8, 0.7]])
    assert float(list(fio.load_weights(best).values())[0][0, 0]) == 1.0  # epoch 1 (0.8) kept
    out = capsys.readouterr().out
    assert "val_acc improved from -inf to 0.80000" not in out and "did not improve from 0.80000" in out
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_model_checkpoint_full_model_and_save_freq(tmp_path):
    path = str(tmp_path / "m-{epoch}-{batch}.fnet")
    cb = C.ModelCheckpoint(path, save_freq=3)
    run([cb], [{"loss": 1.0}] * 2, steps=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-1-3.fnet", "m-2-3.fnet"]
    cfg, w = fio.read_fnet(tmp_path / "m-2-3.fnet")
    assert cfg["class_name"] == "FakeModel" and len(w) == 2
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("x", save_freq="batch")

    class SavingModel(FakeModel):
        saved = []

        def save_weights(self, p):
            self.saved.append(p)
    m = SavingModel()
    run([C.ModelCheckpoint(str(tmp_path / "d.weights.safetensors"), save_weights_only=True)], [{}], model=m)
    assert m.saved == [str(tmp_path / "d.weights.safetensors")]


def test_learning_rate_scheduler(capsys):
    seen = []
    sched = C.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr, verbose=1)
    m, _ = run([sched, C.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(logs["learning_rate"]))],
               [{"loss": 1.0}] * 3)
    assert seen == [0.1, 0.05, 0.025] and m.optimizer.learning_rate == 0.025
    assert m.history.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert "setting learning rate to 0.05" in capsys.readouterr().out
    m, _ = run([C.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))], [{}] * 2)
    assert m.optimizer.learning_rate == 0.02
    with pytest.raises(ValueError, match="should be a float"):
        run([C.LearningRateScheduler(lambda epoch: "fast")], [{}])


def test_reduce_lr_on_plateau():
    cb = C.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    vals = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    m, _ = run([cb], [{"val_loss": v} for v in vals])
    # logs hold the rate the epoch ran with; reductions at the end of epochs 2, 4 (cooldown 1), 6 (floor)
    assert m.history.history["learning_rate"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    m, _ = run([C.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.02)], [{"val_loss": 1.0}] * 8)
    assert math.isclose(m.optimizer.learning_rate, 0.02)
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=1.5)


def test_terminate_on_nan(capsys):
    m, _ = run([C.TerminateOnNaN()], [{"loss": 1.0}, {"loss": float("nan")}, {"loss": 1.0}])
    assert m.history.epoch == [0, 1]
    assert "Invalid loss" in capsys.readouterr().out


def test_csv_logger(tmp_path):
    p = tmp_path / "log.csv"
    run([C.CSVLogger(str(p))], [{"loss": 0.5, "acc": 0.75}, {"loss": 0.25, "acc": 0.875}])
    rows = list(csv.reader(p.open()))
    assert rows == [["epoch", "acc", "loss"], ["0", "0.75", "0.5"], ["1", "0.875", "0.25"]]
    run([C.CSVLogger(str(p), separator=";", append=True)], [{"loss": 0.125, "acc": 1.0}])
    lines = p.read_text().splitlines()
    assert len(lines) == 4 and lines[-1] == "0;1.0;0.125"
    run([C.CSVLogger(str(p))], [{"loss": 1.0, "val_loss": 2.0}, {"loss": 1.0}])
    assert p.read_text().splitlines()[-1] == "1,1.0,NA"


def test_lambda_callback_validates_names():
    with pytest.raises(ValueError, match="unknown hook"):
        C.LambdaCallback(on_epoch_ends=print)
    got = []
    cb = C.LambdaCallback(on_test_end=lambda logs: got.append(logs))
    cb.on_test_end({"x": 1})
    assert got == [{"x": 1}]


def test_progbar_logger_verbose_modes(capsys):
    m = FakeModel()
    cbl = C.CallbackList([], add_progbar=True, model=m, verbose=2, epochs=2, steps=3)
    cbl.on_train_begin()
    for e in range(2):
        cbl.on_epoch_begin(e)
        for b in range(3):
            cbl.on_train_batch_end(b, {"loss": 0.5, "accuracy": 0.25})
        cbl.on_epoch_end(e, {"loss": 0.5, "accuracy": 0.25, "val_loss": 0.00012})
    cbl.on_train_end()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2" and len(out) == 4
    assert out[1].startswith("3/3 - ") and "loss: 0.5000 - accuracy: 0.2500 - val_loss: 1.2000e-04" in out[1]
    assert "/step" in out[1]


def test_progbar_verbose1_dynamic_eta():
    buf = io.StringIO()
    buf.isatty = lambda: True
    bar = Progbar(10, verbose=1, interval=0.0, file=buf)
    for i in range(1, 10):
        bar.update(i, [("loss", 1.0)])
    text = buf.getvalue()
    assert "ETA:" in text and "\r" in text and " 5/10 [" + "=" * 14 + ">" in text
    bar.update(10, [("loss", 3.0)])
    last = buf.getvalue().split("\r")[-1]
    assert last.startswith("10/10 [==============================]") and last.endswith("\n")
    assert "loss: 1.2000" in last  # non-stateful values are averaged per step, like Keras
    silent = io.StringIO()
    Progbar(5, verbose=0, file=silent).update(5, [("loss", 1.0)])
    assert silent.getvalue() == ""


def test_progbar_array_valued_metrics():
    """Per-class metrics (F1Score(average=None)) reach the bar as arrays: short list or mean."""
    buf = io.StringIO()
    bar = Progbar(3, verbose=2, file=buf)
    bar.update(1, [("loss", 0.5), ("f1", np.array([0.1, 0.2, 0.3])), ("s", "text")])
    bar.update(2, [("loss", 0.5), ("f1", [0.1, 0.2, 0.3]), ("big", np.arange(10.0))])
    bar.update(3, [("loss", 0.5), ("f1", fusednet.asarray(np.array([0.1, 0.2, 0.6], np.float32))),
                   ("big", np.arange(10.0)), ("scalar_arr", np.array([0.25]))])
    line = buf.getvalue()
    assert "f1: [0.1000 0.2000 0.4000]" in line  # averaged per step like scalars
    assert "big: 4.5000 (mean of 10)" in line and "s: text" in line and "scalar_arr: 0.2500" in line
    # a value that changes shape restarts its running average instead of failing to broadcast
    bar2 = Progbar(2, verbose=2, file=io.StringIO())
    bar2.update(1, [("f1", np.array([0.5, 0.5]))])
    bar2.update(2, [("f1", np.array([0.1, 0.2, 0.3]))])
    # through the ProgbarLogger of fit (stateful values), verbose 1 and 2
    for verbose in (1, 2):
        out = io.StringIO()
        cbl = C.CallbackList([], add_progbar=True, model=FakeModel(), verbose=verbose, epochs=1, steps=2)
        import contextlib
        with contextlib.redirect_stdout(out):
            cbl.on_train_begin()
            cbl.on_epoch_begin(0)
            for b in range(2):
                cbl.on_train_batch_end(b, {"loss": 0.5, "f1_score": np.array([0.5, 1.0, 0.0], np.float32)})
            cbl.on_epoch_end(0, {"loss": 0.5, "f1_score": np.array([0.5, 1.0, 0.0], np.float32)})
            cbl.on_train_end()
        assert "f1_score: [0.5000 1.0000 0.0000e+00]" in out.getvalue()


def test_monitoring_an_array_valued_metric_is_a_clear_error():
    for cb in (C.EarlyStopping(monitor="f1_score"), C.ReduceLROnPlateau(monitor="f1_score")):
        with pytest.raises(ValueError, match="f1_score.*array-valued"):
            run([cb], [{"loss": 1.0, "f1_score": np.array([0.1, 0.2])}])
    # a 1-element array is a scalar
    run([C.EarlyStopping(monitor="f1_score")], [{"loss": 1.0, "f1_score": np.array([0.1])}])


# ---------------------------------------------------------------------------------------------
# integration with the real training loop (branch python)

import fusednet  # noqa: E402
import fusednet.metrics  # noqa: E402

requires_api = pytest.mark.skipif(not hasattr(fusednet, "Sequential"), reason="fusednet.Sequential not available")


def _tiny_model(seed=0):
    from fusednet.layers import Dense, Input
    fusednet.random.set_random_seed(seed)
    m = fusednet.Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy", fusednet.metrics.F1Score(average="macro")])
    return m


def _blobs(n=96):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = (rng.standard_normal((n, 4)) + 2.0 * np.eye(3, 4)[y]).astype(np.float32)
    return x, y


@requires_api
def test_fit_with_real_model(tmp_path, capsys):
    x, y = _blobs()
    m = _tiny_model()
    ckpt = tmp_path / "best.weights.safetensors"
    seen = []
    hist = m.fit(x, y, epochs=4, batch_size=16, validation_split=0.25, verbose=2, callbacks=[
        C.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True),
        C.ModelCheckpoint(str(ckpt), monitor="val_accuracy", save_best_only=True, save_weights_only=True),
        C.CSVLogger(str(tmp_path / "log.csv")),
        C.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"])),
    ])
    assert m.history is hist and set(hist.history) >= {"loss", "accuracy", "f1_score", "val_loss", "val_accuracy"}
    assert len(seen) == 5 * len(hist.epoch)  # 72 training samples / 16
    out = capsys.readouterr().out
    assert "Epoch 1/4" in out and "5/5 - " in out and "val_accuracy:" in out
    assert ckpt.exists() and (tmp_path / "log.csv").read_text().startswith("epoch,")
    m2 = _tiny_model(seed=1)
    m2.load_weights(str(ckpt))
    assert len(fio.load_weights(ckpt)) == len(m2.get_weights()) == 4
    res = m.evaluate(x, y, verbose=0, return_dict=True)
    assert 0.0 <= res["accuracy"] <= 1.0


@requires_api
def test_model_save_weights_roundtrip_and_terminate(tmp_path):
    x, y = _blobs()
    m = _tiny_model()
    m.fit(x, y, epochs=1, batch_size=32, verbose=0)
    p = tmp_path / "w.safetensors"
    m.save_weights(str(p))
    m2 = _tiny_model(seed=5)
    m2.load_weights(str(p))
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    h = m.fit(x, y, epochs=5, verbose=0, callbacks=[C.LearningRateScheduler(lambda e, lr: 1e-3 * (e + 1)),
                                                   C.LambdaCallback(on_epoch_end=lambda e, l: setattr(
                                                       m, "stop_training", e == 1))])
    assert h.epoch == [0, 1] and h.history["learning_rate"] == pytest.approx([1e-3, 2e-3])

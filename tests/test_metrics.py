"""fusednet.metrics: Keras 3 semantics, streaming accumulation, lookup, reports (vs scikit-learn)."""
import numpy as np
import pytest

from fusednet import metrics as M
from tolerances import TOL

try:
    import sklearn.metrics as skm
    HAVE_SK = True
except Exception:  # pragma: no cover - optional test extra
    HAVE_SK = False
requires_sklearn = pytest.mark.skipif(not HAVE_SK, reason="scikit-learn not installed")

R, A = TOL["metric"]


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=R, atol=A)


def probs(rng, n, c):
    z = rng.standard_normal((n, c)).astype(np.float32)
    e = np.exp(z - z.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def test_mean_weighted_and_reset():
    m = M.Mean(name="loss")
    m.update_state(0.5, sample_weight=32)
    m.update_state(1.0, sample_weight=16)
    close(m.result(), (0.5 * 32 + 1.0 * 16) / 48)
    m.update_state(np.array([1.0, 2.0, 3.0]))
    close(m.result(), (16 + 16 + 6) / 51)
    m.reset_state()
    assert m.result() == 0.0 and m.name == "loss"


def test_accuracy_family(rng):
    n, c = 257, 7
    p = probs(rng, n, c)
    y = rng.integers(0, c, n)
    onehot = np.eye(c, dtype=np.float32)[y]
    expect = np.mean(np.argmax(p, 1) == y)
    for metric, yt in [(M.SparseCategoricalAccuracy(), y), (M.SparseCategoricalAccuracy(), y[:, None]),
                       (M.CategoricalAccuracy(), onehot)]:
        # streaming over uneven batches equals the whole-set value
        for s in np.array_split(np.arange(n), 5):
            metric.update_state(yt[s], p[s])
        close(metric.result(), expect)
    assert M.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    m = M.Accuracy()
    m.update_state([1, 2, 3, 4], [1, 2, 3, 5])
    close(m.result(), 0.75)


def test_accuracy_sample_weight():
    m = M.SparseCategoricalAccuracy()
    m.update_state(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]),
                   sample_weight=np.array([1.0, 3.0, 0.0]))
    close(m.result(), 0.25)


def test_binary_accuracy_threshold(rng):
    p = rng.random((100, 1)).astype(np.float32)
    y = rng.integers(0, 2, (100, 1))
    m = M.BinaryAccuracy()
    m.update_state(y, p)
    close(m.result(), np.mean((p > 0.5) == (y == 1)))
    m2 = M.BinaryAccuracy(threshold=0.8)
    m2.update_state(y[:, 0], p)  # [N] labels vs [N,1] predictions
    close(m2.result(), np.mean((p > 0.8) == (y == 1)))


def test_top_k(rng):
    n, c = 300, 10
    p = probs(rng, n, c)
    y = rng.integers(0, c, n)
    order = np.argsort(-p, 1)
    for k in (1, 3, 5):
        expect = np.mean(np.any(order[:, :k] == y[:, None], 1))
        m = M.SparseTopKCategoricalAccuracy(k=k)
        m.update_state(y, p)
        close(m.result(), expect)
        m2 = M.TopKCategoricalAccuracy(k=k)
        m2.update_state(np.eye(c)[y], p)
        close(m2.result(), expect)
    assert M.SparseTopKCategoricalAccuracy().k == 5


@requires_sklearn
def test_precision_recall_vs_sklearn(rng):
    y = rng.integers(0, 2, 500)
    p = rng.random(500).astype(np.float32)
    w = rng.random(500)
    for thr in (0.5, 0.3):
        pm, rm = M.Precision(thresholds=thr), M.Recall(thresholds=thr)
        for s in np.array_split(np.arange(500), 3):
            pm.update_state(y[s], p[s], sample_weight=w[s])
            rm.update_state(y[s], p[s], sample_weight=w[s])
        close(pm.result(), skm.precision_score(y, p > thr, sample_weight=w))
        close(rm.result(), skm.recall_score(y, p > thr, sample_weight=w))
    pl = M.Precision(thresholds=[0.2, 0.7])
    pl.update_state(y, p)
    close(pl.result(), [skm.precision_score(y, p > 0.2), skm.precision_score(y, p > 0.7)])


def test_precision_empty_is_zero():
    m = M.Precision()
    m.update_state([0, 0], [0.1, 0.2])
    assert m.result() == 0.0


@requires_sklearn
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_vs_sklearn(rng, average):
    n, c = 400, 4
    p = probs(rng, n, c)
    y = rng.integers(0, c, n)
    m = M.F1Score(average=average)
    for s in np.array_split(np.arange(n), 4):
        m.update_state(np.eye(c, dtype=np.float32)[y[s]], p[s])
    ref = skm.f1_score(y, p.argmax(1), average=average)
    np.testing.assert_allclose(m.result(), ref, rtol=1e-5, atol=1e-6)  # Keras adds epsilon 1e-7


@requires_sklearn
def test_f1_threshold_multilabel(rng):
    yt = rng.integers(0, 2, (200, 3)).astype(np.float32)
    p = rng.random((200, 3)).astype(np.float32)
    m = M.F1Score(average="macro", threshold=0.6)
    m.update_state(yt, p)
    np.testing.assert_allclose(m.result(), skm.f1_score(yt, p > 0.6, average="macro"), rtol=1e-5, atol=1e-6)


def test_f1_invalid_average():
    with pytest.raises(ValueError, match="average"):
        M.F1Score(average="samples")


@requires_sklearn
def test_auc_vs_sklearn(rng):
    y = rng.integers(0, 2, 2000)
    score = np.clip(0.3 * y + rng.random(2000) * 0.7, 0, 1).astype(np.float32)
    m = M.AUC()
    for s in np.array_split(np.arange(2000), 7):
        m.update_state(y[s], score[s])
    _, atol = TOL["auc_approx"]
    assert abs(m.result() - skm.roc_auc_score(y, score)) < atol
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert abs(m.result() - 0.75) < atol
    pr = M.AUC(curve="PR")
    pr.update_state(y, score)
    assert abs(pr.result() - skm.average_precision_score(y, score)) < 5 * atol


def test_auc_perfect_and_weighted():
    m = M.AUC()
    m.update_state([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.95], sample_weight=[1, 2, 3, 4])
    assert abs(m.result() - 1.0) < 1e-6


def test_regression_metrics():
    m = M.MeanSquaredError()
    m.update_state([[0.0, 1.0]], [[1.0, 1.0]])
    close(m.result(), 0.5)
    r = M.get("rmse")
    r.update_state([[0.0]], [[2.0]])
    close(r.result(), 2.0)


def test_get_resolution():
    assert isinstance(M.get("acc", loss="sparse_categorical_crossentropy"), M.SparseCategoricalAccuracy)
    assert M.get("acc", loss="sparse_categorical_crossentropy").name == "acc"
    assert isinstance(M.get("accuracy", loss="categorical_crossentropy"), M.CategoricalAccuracy)
    assert isinstance(M.get("accuracy", loss="binary_crossentropy"), M.BinaryAccuracy)

    class SparseCategoricalCrossentropy:  # a loss object named like Keras'
        name = "sparse_categorical_crossentropy"
    assert isinstance(M.get("accuracy", loss=SparseCategoricalCrossentropy()), M.SparseCategoricalAccuracy)

    def binary_crossentropy(y, p):
        return p
    assert isinstance(M.get("accuracy", loss=binary_crossentropy), M.BinaryAccuracy)
    assert isinstance(M.get("Precision"), M.Precision)
    assert isinstance(M.get("auc"), M.AUC)
    assert isinstance(M.get(M.Recall), M.Recall)
    inst = M.F1Score()
    assert M.get(inst) is inst
    assert M.get(None) is None
    fm = M.get(lambda t, p: np.abs(t - p))
    fm.update_state(np.array([1.0, 2.0]), np.array([1.5, 2.5]))
    close(fm.result(), 0.5)
    cfg = M.serialize(M.Precision(thresholds=0.3))
    assert M.get(cfg).thresholds[0] == 0.3
    with pytest.raises(ValueError, match="Valid names.*sparse_categorical_accuracy"):
        M.get("accuracyy")


def test_auto_accuracy_by_shape(rng):
    p = probs(rng, 50, 3)
    y = rng.integers(0, 3, 50)
    for yt in (y, np.eye(3)[y]):
        m = M.get("accuracy", loss="mse")
        m.update_state(yt, p)
        close(m.result(), np.mean(p.argmax(1) == y))
    pb = rng.random((50, 1)).astype(np.float32)
    yb = rng.integers(0, 2, (50, 1))
    m = M.get("accuracy")
    m.update_state(yb, pb)
    close(m.result(), np.mean((pb > 0.5) == (yb == 1)))


@requires_sklearn
def test_confusion_matrix_and_report_vs_sklearn(rng):
    n, c = 300, 5
    y = rng.integers(0, c, n)
    p = probs(rng, n, c)
    pred = p.argmax(1)
    np.testing.assert_array_equal(M.confusion_matrix(y, p), skm.confusion_matrix(y, pred, labels=range(c)))
    np.testing.assert_array_equal(M.confusion_matrix(np.eye(c)[y], pred, num_classes=6)[:c, :c],
                                  skm.confusion_matrix(y, pred, labels=range(c)))
    assert M.classification_report(y, pred) == skm.classification_report(y, pred, zero_division=0)
    names = [f"class_{i}" for i in range(c)]
    assert (M.classification_report(y, p, target_names=names, digits=4)
            == skm.classification_report(y, pred, target_names=names, digits=4, zero_division=0))
    d = M.classification_report(y, pred, output_dict=True)
    assert abs(d["accuracy"] - np.mean(y == pred)) < 1e-12


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="samples"):
        M.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="labels must be in"):
        M.confusion_matrix([0, 3], [0, 1], num_classes=2)

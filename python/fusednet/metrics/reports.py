"""Whole-dataset reports: the confusion matrix and a scikit-learn-style classification report."""
import numpy as np

from .base import _np
from .confusion import _div

# ---------------------------------------------------------------------------------------------
# whole-dataset reports

def _labels(y, name):
    y = _np(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be class indices [N] or scores/one-hot [N, C], got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} holds non-integer values; pass class indices or [N, C] scores")
    return y.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Confusion matrix with rows = true class, columns = predicted class.

    Args:
        y_true: class indices ``[N]`` or one-hot ``[N, C]``.
        y_pred: class indices ``[N]`` or scores/probabilities ``[N, C]`` (arg-max is taken).
        num_classes: matrix size; default ``max(label) + 1`` (or C of 2-D inputs).

    Returns:
        int64 array ``[num_classes, num_classes]``.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0])
        array([[1, 0],
               [1, 1]])
    """
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"confusion_matrix: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if num_classes is None:
        dims = [int(a.shape[1]) for a in (_np(y_true), _np(y_pred)) if a.ndim == 2 and a.shape[1] > 1]
        num_classes = max(dims + [int(yt.max(initial=-1)) + 1, int(yp.max(initial=-1)) + 1])
    if yt.size and (yt.min() < 0 or yp.min() < 0 or yt.max() >= num_classes or yp.max() >= num_classes):
        raise ValueError(f"confusion_matrix: labels must be in [0, {num_classes}), got y_true in "
                         f"[{yt.min()}, {yt.max()}], y_pred in [{yp.min()}, {yp.max()}]")
    return np.bincount(yt * num_classes + yp, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes).astype(np.int64)


def classification_report(y_true, y_pred, target_names=None, digits=2, output_dict=False):
    """Per-class precision, recall, F1 and support as text laid out like scikit-learn's.

    Args:
        y_true: class indices ``[N]`` or one-hot ``[N, C]``.
        y_pred: class indices ``[N]`` or scores ``[N, C]``.
        target_names: display names, one per class index ``0..len-1``; default the labels present.
        digits: decimals shown.
        output_dict: return a dict instead of text.

    Returns:
        The report string (or dict). Undefined ratios (no predictions / no support) are 0.

    Example:
        >>> print(classification_report([0, 1, 1], [0, 1, 0]))  # doctest: +SKIP
    """
    yt, yp = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ValueError(f"classification_report: y_true has {yt.shape[0]} samples but y_pred has {yp.shape[0]}")
    if target_names is not None:
        labels = np.arange(len(target_names))
        present = np.union1d(yt, yp)
        if present.size and (present.min() < 0 or present.max() >= len(labels)):
            raise ValueError(f"classification_report: {len(target_names)} target_names but labels "
                             f"range over {present.min()}..{present.max()}")
        names = [str(n) for n in target_names]
    else:
        labels = np.union1d(yt, yp)
        names = [str(v) for v in labels]
    n = len(labels)
    idx_t = np.searchsorted(labels, yt)
    idx_p = np.searchsorted(labels, yp)
    cm = np.bincount(idx_t * n + idx_p, minlength=n * n).reshape(n, n).astype(np.float64)
    tp = np.diag(cm)
    pred_count, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = _div(tp, pred_count)
    recall = _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    total = support.sum()
    micro_is_accuracy = target_names is None or set(np.union1d(yt, yp).tolist()) == set(labels.tolist())
    rows = {}
    for i, name in enumerate(names):
        rows[name] = {"precision": float(precision[i]), "recall": float(recall[i]),
                      "f1-score": float(f1[i]), "support": int(support[i])}
    avgs = {}
    if micro_is_accuracy:
        avgs["accuracy"] = float(tp.sum() / total) if total else 0.0
    else:
        mp = float(tp.sum() / pred_count.sum()) if pred_count.sum() else 0.0
        mr = float(tp.sum() / total) if total else 0.0
        avgs["micro avg"] = {"precision": mp, "recall": mr,
                             "f1-score": (2 * mp * mr / (mp + mr)) if mp + mr else 0.0, "support": int(total)}
    avgs["macro avg"] = {"precision": float(precision.mean()) if n else 0.0,
                         "recall": float(recall.mean()) if n else 0.0,
                         "f1-score": float(f1.mean()) if n else 0.0, "support": int(total)}
    wts = support / total if total else np.zeros(n)
    avgs["weighted avg"] = {"precision": float(precision @ wts), "recall": float(recall @ wts),
                            "f1-score": float(f1 @ wts), "support": int(total)}
    if output_dict:
        out = dict(rows)
        out.update(avgs)
        return out
    headers = ["precision", "recall", "f1-score", "support"]
    width = max([len(nm) for nm in names] + [len("weighted avg"), digits])
    report = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, r in rows.items():
        report += row_fmt.format(name, r["precision"], r["recall"], r["f1-score"], r["support"],
                                 width=width, digits=digits)
    report += "\n"
    for head, r in avgs.items():
        if head == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            report += fmt.format(head, "", "", r, int(total), width=width, digits=digits)
        else:
            report += row_fmt.format(head, r["precision"], r["recall"], r["f1-score"], r["support"],
                                     width=width, digits=digits)
    return report

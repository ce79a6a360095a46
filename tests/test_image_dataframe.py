"""ImageDataGenerator.flow_from_dataframe (DataFrameIterator) against Keras 3's legacy
DataFrameIterator: validated rows, class order, subsets, every class_mode, weights, batches.
pandas is optional: the module skips without it."""
import os
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from fusednet.preprocessing.image import ImageDataGenerator  # noqa: E402


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    pytest.importorskip("PIL")
    from PIL import Image
    root = tmp_path_factory.mktemp("df")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(11):
        name = f"img_{i}.png" if i != 4 else "img_4.jpg"
        Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(root / name)
        rows.append((name, ["cat", "dog", "bird"][i % 3], float(i) / 10, ["cat", "dog"] if i == 5 else "dog",
                     float(i), i % 2))
    rows.append(("missing.png", "cat", 0.5, "cat", 0.0, 0))
    rows.append(("notes.txt", "dog", 0.5, "dog", 0.0, 1))
    (root / "notes.txt").write_text("x")
    df = pd.DataFrame(rows, columns=["filename", "class", "w", "multi", "value", "other"])
    df["bin"] = df["class"].map(lambda c: "cat" if c == "cat" else "other")
    return root, df


def _keras_idg():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as K
    return K


def _pair(frame, split=0.0, **kw):
    K = _keras_idg()
    root, df = frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = K(validation_split=split).flow_from_dataframe(df, str(root), target_size=(9, 7), shuffle=False, **kw)
        f = ImageDataGenerator(validation_split=split).flow_from_dataframe(df, str(root), target_size=(9, 7),
                                                                          shuffle=False, workers=0, **kw)
    return k, f


@pytest.mark.parametrize("kw", [dict(), dict(class_mode="sparse"), dict(class_mode="binary", y_col="bin"),
                                dict(class_mode="raw", y_col="value"), dict(class_mode=None),
                                dict(class_mode="input"), dict(y_col="multi"), dict(weight_col="w"),
                                dict(classes=["dog", "cat"]), dict(class_mode="multi_output", y_col=["value", "other"]),
                                dict(subset="validation", split=0.3), dict(subset="training", split=0.3)])
def test_matches_keras_dataframe_iterator(frame, kw):
    kw = dict(kw)
    split = kw.pop("split", 0.0)
    k, f = _pair(frame, split, batch_size=4, **kw)
    assert f.filenames == k.filenames and f.samples == k.samples and len(f) == len(k)
    assert f.filepaths == k.filepaths
    if kw.get("class_mode", "categorical") not in ("input", "multi_output", "raw", None):
        assert f.class_indices == k.class_indices and list(f.classes) == list(k.classes)
    for i in range(len(k)):
        kb, fb = k[i], f[i]
        kb, fb = (kb if isinstance(kb, tuple) else (kb,)), (fb if isinstance(fb, tuple) else (fb,))
        assert len(kb) == len(fb)
        for a, b in zip(fb, kb):
            if isinstance(b, list):
                for aa, bb in zip(a, b):
                    np.testing.assert_array_equal(np.asarray(aa), np.asarray(bb))
            else:
                np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


def test_dataframe_errors_and_save(frame, tmp_path):
    root, df = frame
    g = ImageDataGenerator()
    with pytest.raises(ValueError, match="class_mode"):
        g.flow_from_dataframe(df, str(root), class_mode="onehot")
    with pytest.raises(ValueError, match="binary.*2 classes. Found 3"):
        g.flow_from_dataframe(df, str(root), class_mode="binary")
    with pytest.raises(TypeError, match="y_col must be a list"):
        g.flow_from_dataframe(df, str(root), class_mode="multi_output", y_col="value")
    with pytest.raises(TypeError, match="weight_col=class must be numeric"):
        g.flow_from_dataframe(df, str(root), weight_col="class")
    with pytest.warns(UserWarning, match="2 invalid image filename"):
        it = g.flow_from_dataframe(df, str(root), target_size=(9, 7), batch_size=20, shuffle=False, workers=0,
                                   save_to_dir=str(tmp_path / "s"))
    x, y = it[0]
    assert x.shape == (11, 9, 7, 3) and y.shape == (11, 3) and len(os.listdir(tmp_path / "s")) == 11

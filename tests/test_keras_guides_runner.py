"""tools/run_keras_guides.py on a small guide written here (the real keras-io guides are not part
of the project): the keras -> fusednet shim, statement counting, failure classes, the fit cap."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "run_keras_guides.py"

GUIDE = '''"""
Title: a tiny guide
"""
import numpy as np
import keras
from keras import layers, ops

"""
Prose is not counted.
"""
model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
model.compile(optimizer="sgd", loss="mse")
history = model.fit(np.zeros((640, 4)), np.zeros((640, 2)), batch_size=8, epochs=50, verbose=0)
assert len(history.history["loss"]) == 1                      # epochs capped to 1
y = ops.relu(np.array([-1.0, 2.0]))
broken = keras.layers.NoSuchLayer(3)                          # api
print(broken)                                                 # cascade
import tensorflow as tf                                       # tf/jax
ds = tf.data.Dataset.range(3)                                 # tf/jax
print(ds)                                                     # tf/jax by inheritance
(x_train, y_train), _ = keras.datasets.cifar10.load_data()    # api: fusednet has no CIFAR loader
'''


def test_runner_counts_and_classifies(tmp_path):
    d = tmp_path / "guides"
    d.mkdir()
    (d / "tiny_guide.py").write_text(GUIDE)
    (d / "custom_train_step_in_jax.py").write_text("import jax\n")
    out = tmp_path / "r.json"
    # the child must import the fusednet this test process runs (CI installs it into
    # site-packages; the source tree's python/ has no compiled _C there)
    import fusednet
    env_path = str(pathlib.Path(fusednet.__file__).resolve().parents[1])
    cp = subprocess.run([sys.executable, str(TOOL), str(d), "--json", str(out), "--mnist", str(tmp_path)],
                        capture_output=True, text=True, timeout=300,
                        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert cp.returncode == 0, cp.stderr[-2000:]
    res = json.loads(out.read_text())
    (r,) = res["results"]
    assert r["guide"] == "tiny_guide" and r["statements"] == 14
    kinds = {f["line"]: f["kind"] for f in r["failures"]}
    lines = GUIDE.splitlines()
    at = {}
    for i, ln in enumerate(lines, 1):
        for key in ("NoSuchLayer", "print(broken)", "import tensorflow", "Dataset.range", "print(ds)"):
            if key in ln:
                at[key] = i
    assert kinds[at["NoSuchLayer"]] == "api"
    assert kinds[at["print(broken)"]] == "cascade"
    assert kinds[at["import tensorflow"]] == kinds[at["Dataset.range"]] == kinds[at["print(ds)"]] == "tf/jax"
    assert r["ran"] == 14 - len(r["failures"]) and len(r["failures"]) == 6
    assert res["skipped"] == [["custom_train_step_in_jax", res["skipped"][0][1]]]
    assert "OVERALL: 8/14 statements ran" in cp.stdout

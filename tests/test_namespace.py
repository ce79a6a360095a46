"""`import fusednet` exposes the Keras-shaped namespace."""
import numpy as np

import fusednet


def test_keras_shaped_modules_and_names():
    for name in ["layers", "models", "losses", "optimizers", "metrics", "callbacks", "initializers",
                 "regularizers", "schedules", "activations", "datasets", "data", "io", "utils", "random",
                 "cuda", "ops", "Tensor", "Array", "asarray", "from_dlpack", "Sequential", "Model", "Input"]:
        assert hasattr(fusednet, name), name
    assert fusednet.models.Sequential is fusednet.Sequential
    assert fusednet.optimizers.schedules is fusednet.schedules  # keras.optimizers.schedules
    assert fusednet.datasets.mnist.load_data
    assert set(fusednet.__all__) <= set(dir(fusednet))


def test_utils_aliases():
    u = fusednet.utils
    assert u.set_random_seed is fusednet.random.set_random_seed
    assert u.to_categorical is fusednet.data.to_categorical
    assert u.normalize is fusednet.data.normalize
    np.testing.assert_array_equal(u.to_categorical([0, 2], 3), [[1, 0, 0], [0, 0, 1]])
    u.set_random_seed(7)
    assert fusednet.random.get_seed() == 7
    assert isinstance(fusednet.asarray(np.zeros(3, np.float32)), fusednet.Array)

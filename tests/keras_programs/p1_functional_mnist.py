import numpy as np, os, tempfile
import fusednet as keras
from fusednet import layers
rng = np.random.default_rng(0)
x_train = rng.random((600, 784), dtype=np.float32); y_train = rng.integers(0, 10, 600)
x_test = rng.random((100, 784), dtype=np.float32); y_test = rng.integers(0, 10, 100)
inputs = keras.Input(shape=(784,))
dense = layers.Dense(64, activation="relu")
x = dense(inputs)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
model.summary()
model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2)
test_scores = model.evaluate(x_test, y_test, verbose=2)
print("Test loss:", test_scores[0], "Test accuracy:", test_scores[1])
d = tempfile.mkdtemp()
model.save(os.path.join(d, "my_model.keras"))
p = model.predict(x_test)
del model
model = keras.models.load_model(os.path.join(d, "my_model.keras"))
np.testing.assert_allclose(model.predict(x_test), p, rtol=1e-6)
print("OK")

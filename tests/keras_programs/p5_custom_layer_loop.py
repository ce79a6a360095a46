import numpy as np
import fusednet as keras
from fusednet import layers, ops
class Linear(keras.layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)
    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b
class ActivityRegularizationLayer(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(1e-2 * ops.sum(inputs))
        return inputs
class MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.reg = ActivityRegularizationLayer()
        self.linear_2 = Linear(10)
    def call(self, inputs):
        x = self.linear_1(inputs)
        x = keras.activations.relu(x)
        x = self.reg(x)
        return self.linear_2(x)
mlp = MLP()
y = mlp(ops.ones((3, 64)))
assert len(mlp.weights) == 4
optimizer = keras.optimizers.SGD(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
rng = np.random.default_rng(0)
x_train = rng.random((256, 64), dtype=np.float32); y_train = rng.integers(0, 10, 256)
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
for epoch in range(2):
    for step in range(0, 256, 64):
        xb, yb = x_train[step:step + 64], y_train[step:step + 64]
        with keras.GradientTape() as tape:
            logits = mlp(xb, training=True)
            loss_value = loss_fn(yb, logits)
            loss_value = loss_value + sum(mlp.losses)
        grads = tape.gradient(loss_value, mlp.trainable_weights)
        optimizer.apply_gradients(zip(grads, mlp.trainable_weights))
        train_acc_metric.update_state(yb, logits)
    print("epoch", epoch, float(loss_value), float(train_acc_metric.result()))
    train_acc_metric.reset_state()
print("OK")

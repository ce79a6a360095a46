import numpy as np
import fusednet as keras
def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1), loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model
rng = np.random.default_rng(0)
x_train = rng.random((1000, 784)).astype("float32"); y_train = rng.random((1000,)).astype("float32")
x_test, y_test = x_train[:200], y_train[:200]
class CustomCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        keys = list(logs.keys()); print("Starting training; got log keys: {}".format(keys))
    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys()); print("End epoch {} of training; got log keys: {}".format(epoch, keys))
    def on_test_begin(self, logs=None):
        print("Start testing; got log keys: {}".format(list(logs.keys())))
    def on_predict_end(self, logs=None):
        print("Stop predicting; got log keys: {}".format(list(logs.keys())))
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0: print("...Training: end of batch {}; got log keys: {}".format(batch, list(logs.keys())))
model = get_model()
model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5, callbacks=[CustomCallback()])
res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()])
res = model.predict(x_test, batch_size=128, callbacks=[CustomCallback()])
class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print("The average loss for epoch {} is {:7.2f} and mean absolute error is {:7.2f}.".format(epoch, logs["loss"], logs["mean_absolute_error"]))
model = get_model()
model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[LossAndErrorPrintingCallback()])
class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    def __init__(self, patience=0):
        super().__init__(); self.patience = patience; self.best_weights = None
    def on_train_begin(self, logs=None):
        self.wait = 0; self.stopped_epoch = 0; self.best = np.inf
    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current; self.wait = 0; self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch; self.model.stop_training = True; self.model.set_weights(self.best_weights)
class CustomLearningRateScheduler(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__(); self.schedule = schedule
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"): raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")
def lr_schedule(epoch, lr):
    return lr * 0.5 if epoch > 0 else lr
model = get_model()
model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0, callbacks=[LossAndErrorPrintingCallback(), CustomLearningRateScheduler(lr_schedule), EarlyStoppingAtMinLoss(patience=1)])
print("OK")

"""Seed 003, transfer learning: ResNet50(include_top=False) + Flatten -> Dense(1024) -> Dense(2,
softmax), images read from class folders by ImageDataGenerator(preprocessing_function=
preprocess_input).flow_from_directory(...), fit with steps_per_epoch / validation_steps, predict,
and a 5x5 grid of test images with their predicted classes.

The class folders are written from real images: MNIST test digits as RGB PNGs (32x32). Digits
0-7 pretrain a ResNet50 (saved without its top); the seed program then transfers that base,
frozen, to the two classes it has not seen ("8" and "9"). The same head on a frozen base with
random weights is the baseline the transfer must beat.

    python examples/transfer_learning.py [--data ../shared/data/mnist] [--out DIR]
        [--pretrain-epochs 2] [--epochs 3] [--per-class 600] [--transfer-per-class 40]

Needs Pillow (``pip install fusednet[image]``) for the PNG files.
"""
import argparse
import os
import tempfile
import time

import numpy as np

import fusednet
from fusednet.applications.resnet50 import ResNet50, preprocess_input
from fusednet.layers import Dense, Flatten, GlobalAveragePooling2D
from fusednet.models import Model
from fusednet.preprocessing.image import ImageDataGenerator

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 32


def write_class_folders(root, data_dir, per_class, transfer_per_class, seed=0):
    """pretrain/<0..7>/ (``per_class`` each), and train|validation|test/<8|9>/ PNG files from the
    MNIST test set: few training images per new class (``transfer_per_class``), where features
    learnt elsewhere matter most."""
    from PIL import Image
    from fusednet.datasets import mnist
    x, y = mnist.load_test(data_dir, download=data_dir is None)
    rng = np.random.default_rng(seed)
    counts = {}
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        if digit < 8:
            splits = {"pretrain": idx[:per_class]}
        else:
            n = transfer_per_class
            splits = {"train": idx[:n], "validation": idx[n:n + 32], "test": idx[n + 32:n + 32 + 200]}
        for split, ids in splits.items():
            d = os.path.join(root, split, str(digit))
            os.makedirs(d, exist_ok=True)
            for i in ids:
                img = Image.fromarray(x[i]).resize((SIZE, SIZE), Image.BILINEAR).convert("RGB")
                img.save(os.path.join(d, f"{i:05d}.png"))
            counts[(split, digit)] = len(ids)
    return counts


def pretrain(root, epochs, out_path):
    """A ResNet50 trained on digits 0-7; its base (no top) saved to ``out_path``."""
    datagen = ImageDataGenerator(preprocessing_function=preprocess_input)
    gen = datagen.flow_from_directory(os.path.join(root, "pretrain"), target_size=(SIZE, SIZE), batch_size=32,
                                      class_mode="categorical", seed=1)
    base = ResNet50(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    x = GlobalAveragePooling2D()(base.output)
    model = Model(base.input, Dense(gen.num_classes, activation="softmax")(x))
    model.compile(optimizer=fusednet.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    hist = model.fit(gen, epochs=epochs, verbose=2)
    print(f"pretraining on digits 0-7: {time.perf_counter() - t:.1f} s, "
          f"accuracy {hist.history['accuracy'][-1]:.3f}")
    base.save_weights(out_path)


def transfer(root, weights, epochs, label):
    """The seed-003 program: frozen ResNet50 base, new head, class folders."""
    base_model = ResNet50(include_top=False, weights=weights, input_shape=(SIZE, SIZE, 3))
    base_model.trainable = False
    x = Flatten()(base_model.output)
    x = Dense(1024, activation="relu")(x)
    predictions = Dense(2, activation="softmax")(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    datagen = ImageDataGenerator(preprocessing_function=preprocess_input)
    train_generator = datagen.flow_from_directory(os.path.join(root, "train"), target_size=(SIZE, SIZE),
                                                  batch_size=16, class_mode="categorical", seed=2)
    validation_generator = datagen.flow_from_directory(os.path.join(root, "validation"), target_size=(SIZE, SIZE),
                                                       batch_size=16, class_mode="categorical", seed=3)
    model.fit(train_generator,
              steps_per_epoch=max(1, train_generator.samples // train_generator.batch_size),
              epochs=epochs,
              validation_data=validation_generator,
              validation_steps=max(1, validation_generator.samples // validation_generator.batch_size),
              verbose=2)
    test_generator = datagen.flow_from_directory(os.path.join(root, "test"), target_size=(SIZE, SIZE),
                                                 batch_size=25, class_mode="categorical", shuffle=False)
    probs = model.predict(test_generator, verbose=0)
    predicted = np.argmax(probs, axis=1)
    accuracy = float(np.mean(predicted == test_generator.classes))
    print(f"{label}: test accuracy {accuracy:.3f} on {test_generator.samples} images")
    return accuracy, test_generator, predicted


def save_grid(test_generator, predicted, path):
    """5x5 grid of test images (``test_generator[i][0]``, spread over both classes) titled with
    their predicted classes."""
    from PIL import Image, ImageDraw
    names = {v: k for k, v in test_generator.class_indices.items()}
    bs = test_generator.batch_size
    picks = np.linspace(0, test_generator.samples - 1, 25).astype(int)
    images = [test_generator[int(j) // bs][0][int(j) % bs] for j in picks]
    predicted = [predicted[j] for j in picks]
    cell = 4 * SIZE
    grid = Image.new("RGB", (5 * cell, 5 * (cell + 14)), "white")
    draw = ImageDraw.Draw(grid)
    for i, img in enumerate(images):
        rgb = (img + np.array([103.939, 116.779, 123.68], np.float32))[..., ::-1]   # undo "caffe" mode
        tile = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).resize((cell, cell), Image.NEAREST)
        r, c = divmod(i, 5)
        grid.paste(tile, (c * cell, r * (cell + 14) + 14))
        draw.text((c * cell + 4, r * (cell + 14)), f"predicted: {names[int(predicted[i])]}", fill="black")
    grid.save(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "mnist"))
    p.add_argument("--out", default=None, help="folder for the class folders, weights and grid (default: temp)")
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--per-class", type=int, default=600, help="pretraining images per digit 0-7")
    p.add_argument("--reuse", action="store_true", help="reuse a pretrained base already in --out")
    p.add_argument("--transfer-per-class", type=int, default=40, help="training images per new digit (8, 9)")
    a = p.parse_args(argv)
    fusednet.utils.set_random_seed(0)
    out = a.out or tempfile.mkdtemp(prefix="fusednet_transfer_")
    root = os.path.join(out, "digits")
    counts = write_class_folders(root, a.data if os.path.isdir(a.data) else None, a.per_class,
                                 a.transfer_per_class)
    print(f"class folders in {root}: {sum(counts.values())} PNG files")
    weights = os.path.join(out, "resnet50_digits0-7_notop.weights.safetensors")
    if a.reuse and os.path.exists(weights):
        print(f"reusing the pretrained base {weights}")
    else:
        pretrain(root, a.pretrain_epochs, weights)
    acc_transfer, gen, predicted = transfer(root, weights, a.epochs, "frozen pretrained base")
    fusednet.utils.set_random_seed(0)
    acc_random, _, _ = transfer(root, None, a.epochs, "frozen random base (baseline)")
    grid = os.path.join(out, "predictions_5x5.png")
    save_grid(gen, predicted, grid)
    print(f"transfer {acc_transfer:.3f} vs random features {acc_random:.3f}; grid: {grid}")
    return acc_transfer, acc_random


if __name__ == "__main__":
    main()

"""Listing class folders the way Keras does: ``index_directory`` (image_dataset_from_directory)
and ``list_class_folders`` (ImageDataGenerator.flow_from_directory), with their file orders,
class orders, shuffles and validation splits."""
import os

import numpy as np

__all__ = ["index_directory", "training_or_validation_split", "check_validation_split", "list_class_folders",
           "walk_files"]


def walk_files(directory, formats, follow_links=False):
    """``(root, fname)`` of the files under ``directory`` whose lower-cased name ends with one of
    ``formats``: directories in sorted path order, files sorted within each (Keras' os.walk order).

    Args:
        directory: folder to walk (recursively).
        formats: tuple of extensions such as ('.png', '.jpg').
        follow_links: follow symbolic links to folders.

    Returns:
        Generator of (root, fname) pairs.

    Example:
        >>> list(walk_files("data/cats", (".png",)))[:1]   # [('data/cats', '001.png')]
    """
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda t: t[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def _class_subdirs(directory, owner):
    if not os.path.isdir(directory):
        raise ValueError(f"{owner}: directory {os.fspath(directory)!r} does not exist or is not a folder")
    return [d for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False,
                    owner="image_dataset_from_directory"):
    """List image files with integer labels exactly as Keras' ``dataset_utils.index_directory``.

    Classes are the sub-folders in alphanumeric order (or ``class_names`` in the given order);
    files are walked in sorted order per class, classes concatenated; with ``shuffle`` the list
    is permuted by ``np.random.RandomState(seed).shuffle`` (files and labels with the same
    permutation), so a given seed selects the same validation files as Keras.

    Args:
        directory: root folder.
        labels: 'inferred', None, or a list of ints in the sorted file order.
        formats: allowed extensions.
        class_names: explicit class order ('inferred' only).
        shuffle: shuffle once with ``seed``.
        seed: int (required for a reproducible split; None draws one).
        follow_links: follow symbolic links.
        owner: function name used in error messages.

    Returns:
        ``(file_paths, labels (int32 array or None), class_names (list or None))``.

    Example:
        >>> paths, y, names = index_directory("data", "inferred", (".png",), seed=1)
    """
    if labels == "inferred":
        subdirs = _class_subdirs(directory, owner)
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(f"{owner}: the class_names passed did not match the names of the subdirectories "
                                 f"of the target directory. Expected: {subdirs} (or a subset of it), but received: "
                                 f"class_names={list(class_names)}")
            subdirs = list(class_names)
    else:
        if not os.path.isdir(directory):
            raise ValueError(f"{owner}: directory {os.fspath(directory)!r} does not exist or is not a folder")
        subdirs = [""]
        if class_names is not None:
            raise ValueError(f"{owner}: class_names can only be passed with labels='inferred'")
    names = list(subdirs)
    filenames, per_class = [], []
    for k, sub in enumerate(subdirs):
        d = os.path.join(directory, sub)
        base = os.path.basename(d)
        files = [os.path.join(base, os.path.relpath(os.path.join(r, f), d)) for r, f in
                 walk_files(d, formats, follow_links)]
        filenames += files
        per_class.append(len(files))
    if labels == "inferred":
        y = np.repeat(np.arange(len(names), dtype=np.int32), per_class)
    elif labels is None:
        y, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ValueError(f"{owner}: expected the lengths of labels to match the number of files in the target "
                             f"directory. len(labels) is {len(labels)} while we found {len(filenames)} files in "
                             f"directory {os.fspath(directory)!r}")
        y = np.asarray(labels)
        names = [str(v) for v in sorted(set(np.asarray(labels).tolist()))]
    paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(paths)
        if y is not None:
            np.random.RandomState(seed).shuffle(y)
    return paths, y, names


def check_validation_split(validation_split, subset, owner):
    """Keras' argument rules for ``validation_split`` / ``subset`` (ValueError otherwise).

    Args:
        validation_split: float in (0, 1) or None.
        subset: 'training', 'validation', 'both' or None; set iff validation_split is.
        owner: function name used in the error message.

    Returns:
        None.

    Example:
        >>> check_validation_split(0.2, "training", "image_dataset_from_directory")
    """
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{owner}: validation_split must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{owner}: if subset is set, validation_split must be set, and inversely "
                         f"(got validation_split={validation_split!r}, subset={subset!r})")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"{owner}: subset must be either 'training', 'validation' or 'both', received: {subset!r}")


def training_or_validation_split(samples, labels, validation_split, subset):
    """The last ``int(validation_split * n)`` samples are the validation subset, the rest the
    training subset (Keras ``get_training_or_validation_split``).

    Args:
        samples: list of paths.
        labels: array or None.
        validation_split: float or None (None returns everything).
        subset: 'training' or 'validation'.

    Returns:
        ``(samples, labels)`` of the subset.

    Example:
        >>> training_or_validation_split(list("abcde"), None, 0.4, "validation")   # (['d', 'e'], None)
    """
    if not validation_split:
        return samples, labels
    k = int(validation_split * len(samples))
    if subset == "training":
        sl = slice(0, len(samples) - k)
    elif subset == "validation":
        sl = slice(len(samples) - k, len(samples))
    else:
        raise ValueError(f"subset must be either 'training' or 'validation', received: {subset!r}")
    return samples[sl], (labels[sl] if labels is not None else None)


def list_class_folders(directory, formats, classes=None, split=None, follow_links=False,
                       owner="flow_from_directory"):
    """Files of each class folder as Keras' legacy ``DirectoryIterator`` lists them.

    Classes: ``classes`` or the sorted sub-folders; per class, the sorted walk, restricted to
    ``all[int(split[0] * n):int(split[1] * n)]`` when ``split`` is given (validation = the first
    ``validation_split`` fraction of each class, training the rest).

    Args:
        directory: root folder.
        formats: allowed extensions (lower case, with or without the dot).
        classes: explicit class list (its order gives the indices).
        split: (start, stop) fractions or None.
        follow_links: follow symbolic links.
        owner: function name used in error messages.

    Returns:
        ``(filenames relative to directory, classes int32 array, class_indices dict)``.

    Example:
        >>> names, cls, idx = list_class_folders("data", ("png",))
    """
    if not os.path.isdir(directory):
        raise ValueError(f"{owner}: directory {os.fspath(directory)!r} does not exist or is not a folder")
    if not classes:
        classes = [d for d in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, d))]
    class_indices = {c: i for i, c in enumerate(classes)}
    filenames, labels = [], []
    for c in classes:
        d = os.path.join(directory, c)
        if not os.path.isdir(d):
            raise ValueError(f"{owner}: class folder {d!r} does not exist")
        files = list(walk_files(d, formats, follow_links))
        if split:
            n = len(files)
            files = files[int(split[0] * n):int(split[1] * n)]
        base = os.path.basename(d)
        filenames += [os.path.join(base, os.path.relpath(os.path.join(r, f), d)) for r, f in files]
        labels += [class_indices[c]] * len(files)
    return filenames, np.asarray(labels, dtype=np.int32), class_indices

"""``keras.applications.resnet50`` spelling: :func:`ResNet50` and its :func:`preprocess_input`."""
from .resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]

"""``keras.applications.vgg16``: VGG16, its preprocess_input ("caffe") and decode_predictions."""
from .imagenet_utils import decode_predictions
from .vgg import VGG16, preprocess_input

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]

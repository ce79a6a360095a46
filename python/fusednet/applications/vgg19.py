"""``keras.applications.vgg19``: VGG19, its preprocess_input ("caffe") and decode_predictions."""
from .imagenet_utils import decode_predictions
from .vgg import VGG19, preprocess_input

__all__ = ["VGG19", "preprocess_input", "decode_predictions"]

"""Ready-made image models (Keras ``keras.applications`` shaped): ResNet50/101/152, VGG16/19,
MobileNet, MobileNetV2 and Xception with Keras's layer names and weight layout, ResNet18/34 in torchvision's layout.

Example:
    >>> base = fusednet.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    >>> x = fusednet.applications.resnet50.preprocess_input(images)
"""
from . import imagenet_utils, mobilenet, mobilenet_v2, resnet, resnet50, resnet_small, vgg, vgg16, vgg19, xception
from .imagenet_utils import decode_predictions
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet50, ResNet101, ResNet152
from .resnet_small import ResNet18, ResNet34
from .vgg import VGG16, VGG19
from .xception import Xception

__all__ = ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "MobileNetV2", "resnet",
           "resnet50", "resnet_small", "mobilenet_v2", "imagenet_utils", "VGG16", "VGG19", "MobileNet", "vgg",
           "vgg16", "vgg19", "mobilenet", "decode_predictions", "Xception", "xception"]

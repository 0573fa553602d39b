"""netcore: a NumPy-only neural-network core in the conventions of Stanford CS231n.

Layers as forward/backward pairs, softmax and SVM losses, fully connected and convolutional
models with the ``params`` + ``loss(X, y=None)`` interface, update rules, a Solver, gradient checks,
augmentation, ``.npz`` model files and resumable training states. Importing it loads NumPy and
nothing else.
"""

from netcore.augment import random_crop, random_flip
from netcore.cnn import ConvNet
from netcore.conv_layers import (
    conv_backward,
    conv_bn_relu_pool_backward,
    conv_bn_relu_pool_forward,
    conv_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    max_pool_backward,
    max_pool_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)
from netcore.errors import TrainingDiverged
from netcore.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from netcore.layers import (
    ACTIVATIONS,
    affine_backward,
    affine_bn_relu_backward,
    affine_bn_relu_forward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from netcore.losses import softmax_loss, svm_loss
from netcore.models import FullyConnectedNet, TwoLayerNet
from netcore.optim import (
    UPDATE_RULES,
    UpdateRule,
    adam,
    get_update_rule,
    nesterov,
    rmsprop,
    sgd,
    sgd_momentum,
)
from netcore.serialize import (
    MODEL_CLASSES,
    load_model,
    save_model,
    state_from_bytes,
    state_to_bytes,
)
from netcore.solver import Solver

__all__ = [
    "ACTIVATIONS",
    "MODEL_CLASSES",
    "UPDATE_RULES",
    "ConvNet",
    "FullyConnectedNet",
    "Solver",
    "TrainingDiverged",
    "TwoLayerNet",
    "UpdateRule",
    "adam",
    "affine_backward",
    "affine_bn_relu_backward",
    "affine_bn_relu_forward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward",
    "conv_bn_relu_pool_backward",
    "conv_bn_relu_pool_forward",
    "conv_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "dropout_backward",
    "dropout_forward",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "get_update_rule",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "load_model",
    "max_pool_backward",
    "max_pool_forward",
    "nesterov",
    "random_crop",
    "random_flip",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "rmsprop",
    "save_model",
    "sgd",
    "sgd_momentum",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "state_from_bytes",
    "state_to_bytes",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
]

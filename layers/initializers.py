"""Initializers under Keras' names (``layers.initializers``): the classes of
tinygraph.train.initializers and, as ``keras.initializers`` exports them, a lower-case
alias of each class (``glorot_uniform`` is ``GlorotUniform``)."""
from tinygraph.train.initializers import (
                                          Constant,
                                          GlorotNormal,
                                          GlorotUniform,
                                          HeNormal,
                                          HeUniform,
                                          Identity,
                                          Initializer,
                                          Ones,
                                          Orthogonal,
                                          RandomNormal,
                                          RandomUniform,
                                          VarianceScaling,
                                          Zeros,
                                          get,
                                          serialize,
)

zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, variance_scaling = RandomNormal, RandomUniform, VarianceScaling
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
orthogonal, identity = Orthogonal, Identity

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
           "Orthogonal", "Identity", "zeros", "ones", "constant", "random_normal",
           "random_uniform", "variance_scaling", "glorot_uniform", "glorot_normal",
           "he_uniform", "he_normal", "orthogonal", "identity", "get", "serialize"]

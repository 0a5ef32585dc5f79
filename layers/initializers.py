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
                                          LecunNormal,
                                          LecunUniform,
                                          Ones,
                                          Orthogonal,
                                          RandomNormal,
                                          RandomUniform,
                                          TruncatedNormal,
                                          VarianceScaling,
                                          Zeros,
                                          get,
                                          serialize,
)

zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, variance_scaling = RandomNormal, RandomUniform, VarianceScaling
truncated_normal, lecun_uniform, lecun_normal = TruncatedNormal, LecunUniform, LecunNormal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
orthogonal, identity = Orthogonal, Identity

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "Identity", "zeros", "ones",
           "constant", "random_normal", "random_uniform", "truncated_normal", "variance_scaling",
           "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
           "lecun_normal", "orthogonal", "identity", "get", "serialize"]

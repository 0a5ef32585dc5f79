"""Keras-style layers (installed as ``tinygraph.layers``): ``from tinygraph import layers``.

Dense and Embedding; the recurrent cells SimpleRNNCell, LSTMCell and StackedRNNCells;
the RNN loop layer and LSTM. See docs/layers.md for every argument and where we
differ from Keras.
"""
from tinygraph.layers import activations, constraints, regularizers
from tinygraph.layers.base import Layer, deserialize, serialize
from tinygraph.layers.core import Dense, Embedding
from tinygraph.layers.lstm import LSTM
from tinygraph.layers.rnn import RNN
from tinygraph.layers.rnn_cells import (DropoutRNNCellMixin, LSTMCell, SimpleRNNCell,
                                        StackedRNNCells)

__all__ = ["Layer", "Dense", "Embedding", "SimpleRNNCell", "LSTMCell", "StackedRNNCells",
           "DropoutRNNCellMixin", "RNN", "LSTM", "activations", "constraints", "regularizers",
           "serialize", "deserialize"]
from tinygraph.layers import rnn_cell  # noqa: E402,F401

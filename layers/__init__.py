"""Keras-style layers (installed as ``tinygraph.layers``): ``from tinygraph import layers``.

Dense and Embedding; the weightless Dropout, Activation, Flatten, Reshape, Masking; the
recurrent cells SimpleRNNCell, LSTMCell, GRUCell and StackedRNNCells; the RNN loop layer,
SimpleRNN, LSTM and GRU; Bidirectional; Sequential and the functional Model;
load_keras_model for models trained in Keras. See docs/layers.md for every argument and where we
differ from Keras. The modules, as Keras 3 splits them:

base               Layer, serialize/deserialize
core               Dense, Embedding
weightless         Dropout, Activation, Flatten, Reshape, Masking
activations, constraints, regularizers, initializers   Keras' names for them
dropout_rnn_cell   DropoutRNNCellMixin (the cells' dropout masks)
cell_base          what SimpleRNNCell, LSTMCell and GRUCell share
simple_rnn         SimpleRNNCell and the SimpleRNN layer
lstm               LSTMCell and the LSTM layer
gru                GRUCell and the GRU layer
stacked_rnn_cells  StackedRNNCells
cell_contract      how RNN drives any cell (ours, a user's, a TF1 cell)
rnn                RNN, the loop over time
bidirectional      Bidirectional, a recurrent layer run both ways, outputs merged
sequential         Sequential, layers called one after another
symbolic           Input and the symbolic tensors that describe a functional model
functional         Model(inputs, outputs), the functional model
keras_files        opening .keras / .h5 files safely (what a file is, its config)
keras_weights      Keras weight files read into layers (load_keras_weights), KerasFileError
keras_config       Keras layer configs translated into tinygraph constructors
keras_model        load_keras_model: a Keras model file rebuilt from tinygraph layers
rnn_cell           TF1's legacy LSTMCell, dynamic_rnn, static_rnn (``layers.rnn_cell``)
"""
from tinygraph.layers import activations, constraints, initializers, regularizers, rnn_cell
from tinygraph.layers.base import Layer, deserialize, serialize
from tinygraph.layers.bidirectional import Bidirectional
from tinygraph.layers.core import Dense, Embedding
from tinygraph.layers.dropout_rnn_cell import DropoutRNNCellMixin
from tinygraph.layers.functional import Model
from tinygraph.layers.gru import GRU, GRUCell
from tinygraph.layers.keras_model import load_keras_model
from tinygraph.layers.keras_weights import KerasFileError
from tinygraph.layers.lstm import LSTM, LSTMCell
from tinygraph.layers.rnn import RNN
from tinygraph.layers.sequential import Sequential
from tinygraph.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from tinygraph.layers.stacked_rnn_cells import StackedRNNCells
from tinygraph.layers.symbolic import Input
from tinygraph.layers.weightless import Activation, Dropout, Flatten, Masking, Reshape


__all__ = ["Layer", "Dense", "Embedding", "Dropout", "Activation", "Flatten", "Reshape",
           "Masking", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
           "DropoutRNNCellMixin", "RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional",
           "Sequential", "Input", "Model", "KerasFileError", "load_keras_model", "activations",
           "constraints", "initializers", "regularizers", "rnn_cell", "serialize", "deserialize"]

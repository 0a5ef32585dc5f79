"""Keras-style layers (installed as ``tinygraph.layers``): ``from tinygraph import layers``.

Dense and Embedding; the recurrent cells SimpleRNNCell, LSTMCell, GRUCell and
StackedRNNCells; the RNN loop layer, SimpleRNN, LSTM and GRU; Sequential. See docs/layers.md for every argument and where we
differ from Keras. The modules, as Keras 3 splits them:

base               Layer, serialize/deserialize
core               Dense, Embedding
activations, constraints, regularizers, initializers   Keras' names for them
dropout_rnn_cell   DropoutRNNCellMixin (the cells' dropout masks)
cell_base          what SimpleRNNCell, LSTMCell and GRUCell share
simple_rnn         SimpleRNNCell and the SimpleRNN layer
lstm               LSTMCell and the LSTM layer
gru                GRUCell and the GRU layer
stacked_rnn_cells  StackedRNNCells
cell_contract      how RNN drives any cell (ours, a user's, a TF1 cell)
rnn                RNN, the loop over time
sequential         Sequential, layers called one after another
rnn_cell           TF1's legacy LSTMCell, dynamic_rnn, static_rnn (``layers.rnn_cell``)
"""
from tinygraph.layers import activations, constraints, initializers, regularizers, rnn_cell
from tinygraph.layers.base import Layer, deserialize, serialize
from tinygraph.layers.core import Dense, Embedding
from tinygraph.layers.dropout_rnn_cell import DropoutRNNCellMixin
from tinygraph.layers.gru import GRU, GRUCell
from tinygraph.layers.lstm import LSTM, LSTMCell
from tinygraph.layers.rnn import RNN
from tinygraph.layers.sequential import Sequential
from tinygraph.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from tinygraph.layers.stacked_rnn_cells import StackedRNNCells

__all__ = ["Layer", "Dense", "Embedding", "SimpleRNNCell", "LSTMCell", "GRUCell",
           "StackedRNNCells", "DropoutRNNCellMixin", "RNN", "SimpleRNN", "LSTM", "GRU",
           "Sequential", "activations", "constraints", "initializers", "regularizers", "rnn_cell",
           "serialize", "deserialize"]

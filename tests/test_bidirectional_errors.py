"""layers.Bidirectional's errors: Keras' type and words where Keras checks (merge mode,
a non-layer, the backward layer's go_backwards, return_sequences, return_state and
stateful), a clear error where Keras gives an unhelpful one (a Dense layer, an
initial_state of the wrong length), all at graph build, nothing half made."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

X = np.zeros((2, 3, 4), "float32")


def test_bad_merge_mode():
    for bad in ("max", "", 3, ["sum"]):
        with pytest.raises(ValueError, match=r"invalid merge_mode .*'concat', 'sum', 'mul', "
                                             r"'ave' or None"):
            layers.Bidirectional(layers.LSTM(2), merge_mode=bad)


def test_not_a_layer():
    with pytest.raises(ValueError, match="layer must be a layer instance.*got 3"):
        layers.Bidirectional(3)
    with pytest.raises(ValueError, match="backward_layer must be a layer instance"):
        layers.Bidirectional(layers.LSTM(2), backward_layer="lstm")


def test_not_a_recurrent_layer():
    """Keras 3 fails deep in deserialization (a TypeError that names no argument)."""
    with pytest.raises(TypeError, match=r"layer must be a recurrent layer.*<Dense 'd'> has no "
                                        r"go_backwards, return_sequences, return_state"):
        layers.Bidirectional(layers.Dense(2, name="d"))
    with pytest.raises(TypeError, match="backward_layer must be a recurrent layer"):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.Dense(2))


@pytest.mark.parametrize("forward,backward,words", [
    (dict(), dict(), "different go_backwards values; both 'f' and 'b' have go_backwards=False"),
    (dict(go_backwards=True), dict(go_backwards=True), "different go_backwards"),
    (dict(return_sequences=True), dict(go_backwards=True),
     "same return_sequences; got return_sequences=True for the forward layer 'f'"),
    (dict(return_state=True), dict(go_backwards=True), "same return_state"),
    (dict(), dict(go_backwards=True, stateful=True), "same stateful"),
    (dict(time_major=True), dict(go_backwards=True), "same time_major"),
])
def test_backward_layer_must_match(forward, backward, words):
    with pytest.raises(ValueError, match=words):
        layers.Bidirectional(layers.LSTM(2, name="f", **forward),
                             backward_layer=layers.LSTM(2, name="b", **backward))
    # checked before anything is made: no Bidirectional name was taken
    assert "bidirectional" not in tg.get_default_graph().__dict__.get("layer_name_counts", {})


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_initial_state_of_the_wrong_length(n):
    """Keras 3 fails with an IndexError inside LSTM.call; at graph build here."""
    bi = layers.Bidirectional(layers.LSTM(2))
    with pytest.raises(ValueError, match=rf"initial_state must hold the states of both "
                                         rf"directions \(4: the forward layer's 2, then the "
                                         rf"backward layer's 2\), got {n}"):
        bi(X, initial_state=[np.zeros((2, 2), "float32")] * n)


def test_initial_state_of_the_wrong_shape_names_the_direction():
    bi = layers.Bidirectional(layers.LSTM(2, name="enc"))
    states = [np.zeros((2, 2), "float32")] * 3 + [np.zeros((2, 5), "float32")]
    with pytest.raises(ValueError, match=r"backward_enc: initial state .* expected \(2, 2\)"):
        bi(X, initial_state=states)


def test_merging_outputs_of_different_shapes():
    bi = layers.Bidirectional(layers.LSTM(2), merge_mode="sum",
                              backward_layer=layers.LSTM(3, go_backwards=True))
    with pytest.raises(ValueError, match=r"merge_mode='sum' needs outputs of one shape; the "
                                         r"forward layer gives \(2, 2\), the backward layer "
                                         r"\(2, 3\)"):
        bi(X)
    concat = layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(3, go_backwards=True))
    assert concat(X).shape == (2, 5)                         # concat needs no equal widths


def test_unknown_argument_and_bad_inputs():
    with pytest.raises(TypeError, match="unknown keyword argument.*'units'"):
        layers.Bidirectional(layers.LSTM(2), units=3)
    bi = layers.Bidirectional(layers.LSTM(2, name="enc"))
    with pytest.raises(ValueError, match="forward_enc: expected inputs of rank 3"):
        bi(np.zeros((2, 4), "float32"))

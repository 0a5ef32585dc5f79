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


class NoMaskSequence(layers.Layer):
    """A sequence layer with Keras' recurrent attributes whose call takes no mask."""

    def __init__(self, go_backwards=False, return_sequences=False, return_state=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.go_backwards, self.return_sequences = go_backwards, return_sequences
        self.return_state = return_state

    def call(self, inputs):
        x = tg.reverse(inputs, 1) if self.go_backwards else inputs
        return x if self.return_sequences else x[:, -1]

    def get_config(self):
        return dict(super().get_config(), go_backwards=self.go_backwards,
                    return_sequences=self.return_sequences, return_state=self.return_state)


def test_a_sequence_layer_without_mask_is_refused_a_mask():
    """Keras drops the mask silently; a layer that cannot take it is named."""
    bi = layers.Bidirectional(NoMaskSequence(return_sequences=True, name="seq"))
    y = bi(X)                                     # any layer with the attributes works
    out = tg.Session().run(y, {})
    np.testing.assert_array_equal(out, np.concatenate([X, X], -1))
    with pytest.raises(ValueError, match="a mask was given but <NoMaskSequence 'forward_seq'> "
                                         "takes no mask"):
        bi(X, mask=np.ones((2, 3), bool))


def test_dtype_defaults_to_the_wrapped_layers():
    """Keras 3 casts to the wrapper's own dtype, float32 unless given."""
    x = np.zeros((2, 3, 4))
    assert layers.Bidirectional(layers.LSTM(2, dtype="float64"))(x).dtype == np.float64
    given = layers.Bidirectional(layers.LSTM(2, dtype="float64"), dtype="float32")
    assert given(x).dtype == np.float32
    assert given.forward_layer.dtype == "float64"

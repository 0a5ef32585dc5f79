"""A Keras / TF user's first programs (issue 13's day-one gaps): layers.SimpleRNN,
layers.Sequential with summary(), the TF ops such a user reaches for first, explain
as text, TF1's placeholder argument order and global_variables_initializer. The ops'
values and gradients are also checked by the registry-driven tests (test_op_gradients)."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.testing import check_grads

C = tg.initializers.Constant


def run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


# ---------------------------------------------------------------------- SimpleRNN

def test_simple_rnn_is_rnn_of_its_cell_with_the_cells_attributes(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = layers.SimpleRNN(5, dropout=0.25, return_sequences=True, return_state=True)
    seq, h = layer(x)
    assert isinstance(layer, layers.RNN) and isinstance(layer.cell, layers.SimpleRNNCell)
    assert (layer.units, layer.dropout, layer.activation) == (5, 0.25, layer.cell.activation)
    assert [w.shape for w in layer.weights] == [(4, 5), (5, 5), (5,)]
    assert layer.kernel is layer.cell.kernel
    got_seq, got_h = run([seq, h])
    np.testing.assert_array_equal(got_seq[:, -1], got_h)
    cfg = layer.get_config()
    assert cfg["units"] == 5 and "cell" not in cfg
    assert layers.SimpleRNN.from_config(cfg).get_config() == cfg


def test_simple_rnn_unknown_argument_names_simple_rnn():
    with pytest.raises(TypeError, match="SimpleRNN: unknown keyword argument.*'unit'"):
        layers.SimpleRNN(3, unit=4)


# ---------------------------------------------------------------------- Sequential

def test_sequential_chains_its_layers(rng):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    lstm, dense = layers.LSTM(4), layers.Dense(1)
    model = layers.Sequential([lstm, dense])
    y = model(x)
    np.testing.assert_allclose(run(y), run(dense(lstm(x))), rtol=1e-6)
    assert model.weights == lstm.weights + dense.weights
    assert model.layers == [lstm, dense]
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_array_equal(run(model(x)), 0.0)


def test_sequential_summary_is_a_text_table(capsys):
    model = layers.Sequential([layers.LSTM(4, return_sequences=True, name="enc"),
                               layers.Dense(2, name="head")], name="tagger")
    with pytest.raises(ValueError, match="call the model .*before summary"):
        model.summary()
    model.build((None, 7, 3))
    text = model.summary()
    assert capsys.readouterr().out.strip() == text
    lines = text.splitlines()
    assert lines[0] == 'Model: "tagger"'
    assert any(line.startswith("enc (LSTM)") and "(None, 7, 4)" in line and "128" in line
               for line in lines)
    assert any(line.startswith("head (Dense)") and "(None, 7, 2)" in line and "10" in line
               for line in lines)
    assert "Total params: 138" in lines and "Trainable params: 138" in lines
    assert model.summary(print_fn=None) == text


def test_sequential_hands_an_embedding_mask_to_the_rnn():
    ids = np.array([[3, 1, 0, 0], [2, 4, 5, 0]])
    emb, lstm = layers.Embedding(6, 3, mask_zero=True), layers.LSTM(2)
    model = layers.Sequential([emb, lstm])
    want = lstm(emb(ids), mask=ids != 0)
    got, unmasked = run([model(ids), lstm(emb(ids))])
    np.testing.assert_allclose(got, run(want), rtol=1e-6)
    assert not np.allclose(got, unmasked)


def test_sequential_config_round_trip_and_add():
    model = layers.Sequential(name="m")
    model.add(layers.Dense(3, activation="tanh"))
    model.add(layers.Dense(1))
    again = layers.Sequential.from_config(model.get_config())
    assert [type(layer) for layer in again.layers] == [layers.Dense, layers.Dense]
    assert again.layers[0].get_config() == model.layers[0].get_config()
    with pytest.raises(TypeError, match="expected a layer"):
        model.add("dense")
    with pytest.raises(ValueError, match="no layers"):
        layers.Sequential()(np.ones((1, 2), "float32"))


# ---------------------------------------------------------------------- TF ops

def test_argmax_argmin_as_tf(rng):
    x = rng.normal(size=(3, 5))
    a, b, c = tg.argmax(x, axis=1), tg.argmin(x), tg.argmax(x, -1, output_type="int32")
    assert (a.dtype, a.shape, b.shape, c.dtype) == (np.int64, (3,), (5,), np.int32)
    got = run([a, b, c])
    np.testing.assert_array_equal(got[0], x.argmax(1))
    np.testing.assert_array_equal(got[1], x.argmin(0))          # axis=None is axis 0, as TF
    p = tg.placeholder((3, 5), "float64")
    assert tg.gradients(tg.reduce_sum(tg.cast(tg.argmax(p, 1), "float64")), p) == [None]
    with pytest.raises(tg.ShapeError, match="argmax: axis 2 is out of range for rank 2"):
        tg.argmax(x, axis=2)


def test_reduce_prod_gradient_with_zeros():
    # a placeholder, not a constant: with optimize=True the gradient with respect to a
    # folded constant comes out zero (a separate bug of the backward-fusion stage)
    x = tg.placeholder((3, 3), "float64")
    (g,) = tg.gradients(tg.reduce_sum(tg.reduce_prod(x, axis=1)), [x])
    value = np.array([[2.0, 0.0, 3.0], [2.0, 4.0, 3.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(run(g, {x: value}), [[0, 6, 0], [12, 6, 8], [0, 0, 0]])


def test_reductions_and_cumsum_values(rng):
    x = rng.normal(size=(3, 4))
    b = x > 0
    got = run([tg.reduce_min(x, 0), tg.reduce_prod(x, 1, keepdims=True), tg.reduce_any(b, 1),
               tg.reduce_all(b), tg.cumsum(x, 1, exclusive=True), tg.cumsum(x, 0, reverse=True)])
    np.testing.assert_allclose(got[0], x.min(0))
    np.testing.assert_allclose(got[1], x.prod(1, keepdims=True))
    np.testing.assert_array_equal(got[2], b.any(1))
    assert got[3] == b.all()
    np.testing.assert_allclose(got[4], np.cumsum(x, 1) - x, atol=1e-12)
    np.testing.assert_allclose(got[5], np.cumsum(x[::-1], 0)[::-1])
    with pytest.raises(tg.ShapeError, match="expected a bool tensor"):
        tg.reduce_any(x)


def test_tile_pad_and_their_gradients(rng):
    x = rng.normal(size=(2, 3))
    np.testing.assert_allclose(run(tg.tile(x, [2, 1])), np.tile(x, (2, 1)))
    np.testing.assert_allclose(run(tg.pad(x, [[1, 1], [0, 2]], constant_values=-1.0)),
                               np.pad(x, [(1, 1), (0, 2)], constant_values=-1.0))
    check_grads(lambda t: tg.tile(t, [3, 2]) * tg.tile(t, [3, 2]), [x], order=2)
    check_grads(lambda t: tg.square(tg.pad(t, [[0, 1], [2, 0]])), [x], order=2)
    p = tg.placeholder((None, 3), "float64")
    assert tg.tile(p, [2, 2]).shape == (None, 6) and tg.pad(p, [[1, 0], [1, 1]]).shape == (None, 5)
    with pytest.raises(ValueError, match="mode 'REFLECT' is not supported"):
        tg.pad(x, [[1, 1], [1, 1]], mode="REFLECT")
    with pytest.raises(tg.ShapeError, match="multiples needs 2 entries"):
        tg.tile(x, [2])


def test_sign_floor_round_and_logical_ops():
    x = np.array([-1.5, -0.5, 0.0, 0.5, 2.5])
    got = run([tg.sign(x), tg.floor(x), tg.round(x)])
    np.testing.assert_array_equal(got[0], np.sign(x))
    np.testing.assert_array_equal(got[1], np.floor(x))
    np.testing.assert_array_equal(got[2], [-2.0, -0.0, 0.0, 0.0, 2.0])     # halves to even
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    got = run([tg.logical_and(a, b), tg.logical_or(a, b), tg.logical_xor(a, b),
               tg.logical_not(a)])
    np.testing.assert_array_equal(got, [a & b, a | b, a ^ b, ~a])
    with pytest.raises(tg.ShapeError, match="expected bool tensors"):
        tg.logical_and(x, x)


def test_matmul_transpose_flags_and_einsum(rng):
    a, b = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 4))
    np.testing.assert_allclose(run(tg.matmul(a, b, transpose_a=True, transpose_b=True)),
                               np.swapaxes(a, 1, 2) @ np.swapaxes(b, 1, 2))
    np.testing.assert_allclose(run(tg.einsum("bij,bki->bjk", a, b)),
                               np.einsum("bij,bki->bjk", a, b))
    v = rng.normal(size=(4,))
    check_grads(lambda s, t: tg.einsum("bij,j->bi", s, t), [a[..., :1].repeat(4, 2), v], order=2)
    check_grads(lambda s: tg.einsum("bij->b", s), [a], order=2)       # letters only s has
    with pytest.raises(ValueError, match="repeated within one term"):
        tg.einsum("ii->i", a[0, :3])
    with pytest.raises(tg.ShapeError, match="letter 'j' is 3 in one operand, 5"):
        tg.einsum("ij,jk->ik", a[0], b[0])


# ---------------------------------------------------------------------- TF1 habits

def test_explain_reads_as_text(capsys):
    x = tg.placeholder((2, 3))
    why = tg.Session().explain(tg.exp(x) * 2.0)
    assert isinstance(why, str)
    lines = why.splitlines()
    assert lines[0].startswith("plan:") and "kernels in order:" in why
    print(why)
    assert capsys.readouterr().out.splitlines() == lines
    assert [op for op, _, _ in why.kernels][0] == "exp"       # its parts stay attributes


def test_placeholder_takes_tf1_argument_order():
    x = tg.placeholder("float32", [None, 20, 8])
    y = tg.placeholder(np.int32, (3,), name="ids")
    assert (x.shape, x.dtype, y.shape, y.dtype, y.name) == ((None, 20, 8), np.float32, (3,),
                                                            np.int32, "ids")
    z = tg.placeholder([None, 2], "float64")            # the SPEC order still works
    assert (z.shape, z.dtype) == ((None, 2), np.float64)
    with pytest.raises(ValueError, match="a shape is needed"):
        tg.placeholder("float32")


def test_global_variables_initializer_runs_and_changes_nothing():
    v = tg.Variable(np.array([1.0, 2.0], "float32"))
    step = v.assign_add(tg.constant(np.ones(2, "float32")))
    with tg.Session() as sess:
        assert sess.run(tg.global_variables_initializer()) is None
        sess.run(step)
        sess.run(tg.global_variables_initializer())       # unlike TF1: no reset
        np.testing.assert_array_equal(sess.run(v), [2.0, 3.0])

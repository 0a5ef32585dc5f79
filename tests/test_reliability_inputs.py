"""Bad input refused with a clear error, no wrong answers (issue 14, items 5, 6 and 9):
each case from the issue, with the error type, the words that name the argument and
what was expected, and whether it comes when the graph is built."""
import collections

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers


# ----------------------------------------------------------------------- item 5

@pytest.mark.parametrize("label", [7, -1])
def test_sparse_cross_entropy_refuses_a_constant_label_out_of_range(label):
    logits = tg.placeholder((1, 5), name="logits")
    with pytest.raises(ValueError, match=rf"label {label} is out of range \[0, 5\)"):
        tg.losses.sparse_softmax_cross_entropy(np.array([label]), logits)


@pytest.mark.parametrize("label", [7, -1])
def test_sparse_cross_entropy_refuses_a_fed_label_out_of_range(label):
    logits = tg.placeholder((1, 5), name="logits")
    labels = tg.placeholder((1,), "int32", name="labels")
    loss = tg.losses.sparse_softmax_cross_entropy(labels, logits)
    with pytest.raises(IndexError, match=r"out of range \[0, 5\)"):
        tg.Session().run(loss, {logits: np.zeros((1, 5)), labels: [label]})


def test_sparse_cross_entropy_value_is_unchanged_for_good_labels():
    logits = np.array([[1.0, 2.0, 0.5]], "float32")
    got = tg.evaluate(tg.losses.sparse_softmax_cross_entropy(np.array([1]), logits))
    want = -np.log(np.exp(2.0) / np.exp(logits).sum())
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_mean_squared_error_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"mean_squared_error: labels .* \(4,\) and "
                                         r"predictions .* \(4, 1\) must have the same shape"):
        tg.losses.mean_squared_error(np.zeros(4), tg.placeholder((4, 1)))


def test_embedding_refuses_a_negative_id():
    emb = layers.Embedding(5, 2)
    ids = tg.placeholder((1, 1), "int32")
    out = emb(ids)
    with pytest.raises(IndexError, match=r"index -1 is out of range \[0, 5\)"):
        tg.Session().run(out, {ids: [[-1]]})
    with pytest.raises(IndexError, match=r"index -1 is out of range \[0, 5\)"):
        emb(np.array([[-1]]))                     # constant ids: at build time


def test_get_variable_under_reuse_refuses_another_dtype():
    with tg.variable_scope("s"):
        tg.get_variable("v", (2,))
    with tg.variable_scope("s", reuse=True), \
            pytest.raises(ValueError, match="s/v: asked for dtype float64, it has float32"):
        tg.get_variable("v", (2,), dtype="float64")


def test_placeholder_refuses_a_float_dimension():
    with pytest.raises(TypeError, match=r"placeholder: shape entries must be non-negative ints.*2\.5"):
        tg.placeholder((2.5, 3))


@pytest.mark.parametrize("sizes", [[5, -1], [1, 1], [2, 3], [-2, 6]])
def test_split_refuses_sizes_that_do_not_add_up(sizes):
    a = tg.constant(np.ones((3, 4)))
    with pytest.raises(tg.ShapeError, match=r"split: sizes .* do not add up to dimension 1"):
        tg.split(a, sizes, axis=1)


def test_split_with_one_minus_one_takes_the_rest():
    parts = tg.split(tg.constant(np.ones((3, 4))), [1, -1], axis=1)
    assert [p.shape for p in parts] == [(3, 1), (3, 3)]


def test_string_constants_and_object_placeholders_are_refused():
    with pytest.raises(TypeError, match=r"constant: cannot convert str 'abc'"):
        tg.constant("abc")
    with pytest.raises(TypeError, match="placeholder: .* is not a tensor dtype"):
        tg.placeholder((2,), dtype=object)


def test_slice_past_the_end_is_refused():
    with pytest.raises(IndexError, match=r"slice: begin 0 and size 5 reach outside axis 0"):
        tg.slice(tg.constant(np.ones((3, 4))), [0, 0], [5, 4])


def test_a_bool_is_not_an_index():
    with pytest.raises(TypeError, match=r"index True: a bool is not an index"):
        tg.constant(np.ones((3, 4)))[True]


def test_a_string_mask_is_refused_naming_the_mask():
    with pytest.raises(TypeError, match="mask"):
        layers.LSTM(5)(tg.placeholder((2, 3, 4)), mask=np.array([["a"] * 3] * 2))


# ----------------------------------------------------------------------- item 6

def test_softplus_gradient_at_zero_is_one_half():
    x = tg.constant(np.array([0.0, -1000.0, 1000.0]))
    y = tg.softplus(x)
    got, g = tg.Session().run([y, tg.gradients(y, [x])[0]])
    np.testing.assert_allclose(got, [np.log(2.0), 0.0, 1000.0])
    np.testing.assert_allclose(g, [0.5, 0.0, 1.0])


def test_softplus_activation_gradient_at_zero_is_one_half():
    x = tg.constant(np.zeros(1))
    y = layers.activations.get("softplus")(x)
    np.testing.assert_allclose(tg.evaluate(tg.gradients(y, [x])[0]), [0.5])


@pytest.mark.parametrize("optimize", [True, False])
def test_gradient_with_respect_to_a_constant_exponent(optimize):
    x, c = tg.constant(2.0), tg.constant(3.0)
    (g,) = tg.gradients(x ** c, [c])
    assert g is not None
    np.testing.assert_allclose(tg.Session(optimize=optimize).run(g), 8 * np.log(2.0), rtol=1e-6)


def test_gradient_with_respect_to_a_constant_is_not_folded_away():
    x = tg.constant(np.array([1.0, 2.0]))
    (g,) = tg.gradients(tg.exp(x * 0.5), [x])
    np.testing.assert_allclose(tg.Session().run(g), 0.5 * np.exp([0.5, 1.0]))


# ----------------------------------------------------------------------- item 9

def test_a_list_as_feed_dict():
    with pytest.raises(TypeError, match="feed_dict must be a dict mapping placeholders"):
        tg.Session().run(tg.constant(1.0), feed_dict=[1])


def test_fetching_a_defaultdict_keeps_its_type():
    d = collections.defaultdict(list, a=tg.constant(1.0))
    got = tg.Session().run(d)
    assert isinstance(got, collections.defaultdict) and got["a"] == 1.0


def test_placeholder_with_a_string_shape():
    with pytest.raises(TypeError, match="placeholder: shape must be a list or tuple of ints"):
        tg.placeholder("abc")


def test_lstm_with_an_unknown_dtype():
    with pytest.raises(ValueError, match=r"^LSTM: dtype must be a float dtype .* got 'foo'"):
        layers.LSTM(3, dtype="foo")


def test_sgd_with_a_string_learning_rate():
    with pytest.raises(TypeError, match="SGD: learning_rate must be a number, got str 'a'"):
        tg.optimizers.SGD("a")


def test_get_variable_with_a_negative_shape():
    with pytest.raises(ValueError, match=r"get_variable\('v'\): negative dimension -1"):
        tg.get_variable("v", shape=(-1, 2))


def test_a_ragged_feed():
    p = tg.placeholder((None, 2), name="rows")
    with pytest.raises(ValueError, match=r"feed for 'rows': .* is ragged"):
        tg.Session().run(p, {p: [[1, 2], [3]]})


def test_lstm_cell_state_with_the_wrong_batch():
    cell = layers.LSTMCell(5)
    with pytest.raises(ValueError, match="state"):
        cell(tg.placeholder((2, 4)), [tg.zeros((3, 5)), tg.zeros((3, 5))])


def test_save_weights_of_a_list_of_ints(tmp_path):
    with pytest.raises(TypeError, match="save_weights: expected a layer, a Variable or a "
                                        "list of them, got int 1"):
        tg.save_weights(str(tmp_path / "w.npz"), [1, 2])


def test_gather_with_a_constant_index_out_of_range_is_refused_when_built():
    with pytest.raises(IndexError, match="gather: index 5 is out of range for axis 0 of size 3"):
        tg.gather(tg.constant(np.ones((3, 2))), [5])


def test_subtract_of_bools_is_refused_when_built():
    with pytest.raises(tg.ShapeError, match="subtract of bool tensors"):
        tg.constant([True]) - tg.constant([False])


def test_scan_of_something_that_is_not_a_function():
    with pytest.raises(TypeError, match=r"scan: fn must be a function .* got 3"):
        tg.scan(3, tg.zeros((4, 2)), tg.zeros((2,)))

"""An adversarial user against running, training and layers (issue 14): bad feeds and
fetches, optimizer and loss arguments, weight files, the variable store, gradients and
layer arguments. Cases in BUILD raise before any Session runs; cases in RUN build
fine (the bad value only exists at run time) and raise in ``Session.run``."""
import collections

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers

SE, TE, VE, IE = tg.ShapeError, TypeError, ValueError, IndexError


def X():
    return tg.placeholder((None, 3), name="x")


def _var():
    return tg.Variable(np.ones(3, "float32"), name="w")


def _loss():
    return tg.reduce_sum(tg.square(_var()))


def _scope_twice():
    with tg.variable_scope("s"):
        tg.get_variable("v", (2,))
    with tg.variable_scope("s"):
        tg.get_variable("v", (2,))


def _reuse(shape=(2,), dtype="float32"):
    with tg.variable_scope("r"):
        tg.get_variable("v", (2,))
    with tg.variable_scope("r", reuse=True):
        tg.get_variable("v", shape, dtype=dtype)


def _missing_under_reuse():
    with tg.variable_scope("m", reuse=True):
        tg.get_variable("nope", (2,))


def _file(tmp, content):
    path = tmp / "w.npz"
    path.write_bytes(content)
    return str(path)


BUILD = [
    # Session construction, fetches and feeds (refused before anything runs)
    ("sess-backend", lambda: tg.Session(backend="nope"), VE, "unknown backend 'nope'"),
    ("fetch-str", lambda: tg.Session().run("abc"), TE, "cannot fetch str 'abc'"),
    ("fetch-none", lambda: tg.Session().run(None), TE, "cannot fetch NoneType"),
    ("fetch-int", lambda: tg.Session().run(3), TE, "cannot fetch int"),
    ("fetch-array", lambda: tg.Session().run(np.ones(2)), TE, "cannot fetch ndarray"),
    ("fetch-list-with-str", lambda: tg.Session().run([tg.constant(1.0), "a"]), TE, "cannot fetch str"),
    ("fetch-dict-with-int", lambda: tg.Session().run({"a": 1}), TE, "cannot fetch int"),
    ("fetch-set", lambda: tg.Session().run({tg.constant(1.0)}), TE, "cannot fetch set"),
    ("feed-list", lambda: tg.Session().run(tg.constant(1.0), [1]), TE, "feed_dict must be a dict"),
    ("feed-tuple", lambda: tg.Session().run(tg.constant(1.0), (1, 2)), TE, "feed_dict must be a dict"),
    ("feed-str", lambda: tg.Session().run(tg.constant(1.0), "x"), TE, "feed_dict must be a dict"),
    ("feed-unknown-name", lambda: tg.Session().run(tg.constant(1.0), {"zz": 1}), VE,
     "feed_dict key 'zz' is not the name of a placeholder"),
    ("feed-int-key", lambda: tg.Session().run(tg.constant(1.0), {3: 1}), VE,
     "feed_dict keys must be Tensors or placeholder names, got int 3"),
    ("feed-missing", lambda: tg.Session().run(X() * 2.0), VE, "placeholder.*'x'.* must be fed"),
    ("feed-shape-rank", lambda: (lambda x: tg.Session().run(x, {x: np.ones(3)}))(X()), VE,
     r"feed for 'x': expected shape \(None, 3\), got \(3,\)"),
    ("feed-shape-dim", lambda: (lambda x: tg.Session().run(x, {x: np.ones((2, 4))}))(X()), VE,
     r"expected shape \(None, 3\), got \(2, 4\)"),
    ("feed-ragged", lambda: (lambda x: tg.Session().run(x, {x: [[1, 2, 3], [4]]}))(X()), VE,
     "feed for 'x': .* is ragged"),
    ("feed-str-value", lambda: (lambda x: tg.Session().run(x, {x: [["a"] * 3]}))(X()), VE,
     "feed for 'x': cannot convert"),
    ("feed-none-value", lambda: (lambda x: tg.Session().run(x, {x: None}))(X()), VE,
     "feed for 'x': cannot convert NoneType"),
    ("feed-tensor-value", lambda: (lambda x: tg.Session().run(x, {x: tg.constant(1.0)}))(X()), TE,
     "feed for 'x': got the symbolic tensor"),
    ("feed-float-into-int", lambda: (lambda p: tg.Session().run(p, {p: [1.5]}))(
        tg.placeholder((1,), "int32", name="k")), VE, "feed for 'k': expected int32"),
    ("feed-big-int", lambda: (lambda p: tg.Session().run(p, {p: np.array([2 ** 40])}))(
        tg.placeholder((1,), "int32", name="k")), VE, "feed for 'k': the int64 values do not fit"),
    ("feed-negative-uint", lambda: (lambda p: tg.Session().run(p, {p: np.array([-1])}))(
        tg.placeholder((1,), "uint8", name="k")), VE, "do not fit in uint8"),
    ("feed-int-into-bool", lambda: (lambda p: tg.Session().run(p, {p: np.array([2])}))(
        tg.placeholder((1,), "bool", name="m")), VE, "feed for 'm': expected bool"),
    ("feed-float-into-bool", lambda: (lambda p: tg.Session().run(p, {p: np.array([0.5])}))(
        tg.placeholder((1,), "bool", name="m")), VE, "feed for 'm'"),
    ("feed-nan-into-int", lambda: (lambda p: tg.Session().run(p, {p: np.array([np.nan])}))(
        tg.placeholder((1,), "int32", name="k")), VE, "feed for 'k'"),
    ("explain-int", lambda: tg.Session().explain(3), TE, "Session.explain: cannot explain int"),
    ("evaluate-kw", lambda: tg.evaluate(tg.constant(1.0), foo=1), TE, "foo"),
    ("optimize-pass", lambda: tg.optimize(tg.constant(1.0), passes=["nope"]), VE, "unknown pass 'nope'"),
    ("optimize-str", lambda: tg.optimize("a"), TE, "optimize: cannot optimize str"),
    ("update-twice", lambda: (lambda v: tg.Session().run(tg.group(v.assign(v), v.assign(v))))(
        _var()), VE, "Variable 'w' is updated twice in one run"),
    # gradients
    ("grad-str-y", lambda: tg.gradients("a", [_var()]), TE, "gradients: expected Tensors, got str"),
    ("grad-str-x", lambda: tg.gradients(_loss(), ["a"]), TE, "expected Tensors"),
    ("grad-unconnected", lambda: tg.gradients(_loss(), [_var()], unconnected_gradients="x"), VE,
     "unconnected_gradients must be 'none' or 'zero', got 'x'"),
    ("grad-ys-count", lambda: tg.gradients(_loss(), [_var()], grad_ys=[1.0, 2.0]), VE,
     "1 ys but 2 grad_ys"),
    ("grad-ys-shape", lambda: tg.gradients(_var() * 2.0, [_var()], grad_ys=np.ones(2, "float32")),
     VE, r"grad_ys for .* has shape \(2,\), expected \(3,\)"),
    # optimizers
    ("sgd-str-lr", lambda: tg.optimizers.SGD("a"), TE, "SGD: learning_rate must be a number, got str"),
    ("sgd-none-lr", lambda: tg.optimizers.SGD(None), TE, "learning_rate must be a number"),
    ("sgd-bool-lr", lambda: tg.optimizers.SGD(True), TE, "learning_rate must be a number"),
    ("sgd-neg-lr", lambda: tg.optimizers.SGD(-0.1), VE, "learning_rate must be positive"),
    ("sgd-zero-lr", lambda: tg.optimizers.SGD(0.0), VE, "learning_rate must be positive"),
    ("sgd-nan-lr", lambda: tg.optimizers.SGD(float("nan")), VE, "learning_rate must be finite"),
    ("sgd-inf-lr", lambda: tg.optimizers.SGD(float("inf")), VE, "learning_rate must be finite"),
    ("sgd-momentum", lambda: tg.optimizers.SGD(0.1, momentum=2.0), VE, r"momentum must be in \[0, 1\]"),
    ("sgd-momentum-str", lambda: tg.optimizers.SGD(0.1, momentum="x"), TE, "momentum must be a number"),
    ("adam-beta1", lambda: tg.optimizers.Adam(beta_1=1.0), VE, r"beta_1 must be in \[0, 1\)"),
    ("adam-beta2", lambda: tg.optimizers.Adam(beta_2=-0.1), VE, r"beta_2 must be in \[0, 1\)"),
    ("adam-beta-str", lambda: tg.optimizers.Adam(beta_1="a"), TE, "beta_1 must be a number"),
    ("adam-eps", lambda: tg.optimizers.Adam(epsilon=0.0), VE, "epsilon must be positive"),
    ("adam-eps-str", lambda: tg.optimizers.Adam(epsilon="e"), TE, "epsilon must be a number"),
    ("minimize-str", lambda: tg.optimizers.SGD(0.1).minimize("loss"), TE, "loss must be a Tensor"),
    ("minimize-int-loss", lambda: tg.optimizers.SGD(0.1).minimize(tg.constant(1)), TE,
     "must be a float tensor"),
    ("minimize-vector", lambda: tg.optimizers.SGD(0.1).minimize(_var() * 2.0), VE, "must be a scalar"),
    ("minimize-no-vars", lambda: tg.optimizers.SGD(0.1).minimize(tg.constant(1.0) * 2.0), VE,
     "depends on no trainable Variable"),
    ("minimize-var-list", lambda: tg.optimizers.SGD(0.1).minimize(_loss(), var_list=[1]), TE,
     "var_list holds 1, which is not a Variable"),
    # losses
    ("mse-shape", lambda: tg.losses.mean_squared_error(np.zeros(4), tg.placeholder((4, 1))), VE,
     "must have the same shape"),
    ("mse-rank", lambda: tg.losses.mean_squared_error(np.zeros((2, 3)), tg.placeholder((3,))), VE,
     "must have the same shape"),
    ("xent-shape", lambda: tg.losses.softmax_cross_entropy(np.zeros((2, 4)), tg.placeholder((2, 5))),
     VE, "softmax_cross_entropy: labels .* must have the same shape"),
    ("sparse-float-labels", lambda: tg.losses.sparse_softmax_cross_entropy(
        tg.placeholder((2,)), tg.placeholder((2, 5))), TE, "labels .* must be integers"),
    ("sparse-label-high", lambda: tg.losses.sparse_softmax_cross_entropy(
        np.array([5]), tg.placeholder((1, 5))), VE, r"label 5 is out of range \[0, 5\)"),
    ("sparse-label-neg", lambda: tg.losses.sparse_softmax_cross_entropy(
        np.array([-1]), tg.placeholder((1, 5))), VE, r"label -1 is out of range"),
    ("sparse-unknown-classes", lambda: tg.losses.sparse_softmax_cross_entropy(
        np.array([1]), tg.placeholder((1, None))), VE, "number of classes .* must be known"),
    # variable store
    ("getvar-exists", _scope_twice, VE, "Variable s/v already exists"),
    ("getvar-reuse-shape", lambda: _reuse(shape=(3,)), VE, r"asked for shape \(3,\), it has \(2,\)"),
    ("getvar-reuse-dtype", lambda: _reuse(dtype="float64"), VE, "asked for dtype float64, it has float32"),
    ("getvar-missing", _missing_under_reuse, VE, "does not exist, and its scope has reuse=True"),
    ("getvar-no-shape", lambda: tg.get_variable("new"), VE, "a new variable needs a shape"),
    ("getvar-neg-shape", lambda: tg.get_variable("v", (-1, 2)), VE, "negative dimension -1"),
    ("getvar-float-shape", lambda: tg.get_variable("v", (2.5,)), TE, "shape entries must be"),
    ("getvar-none-dim", lambda: tg.get_variable("v", (None, 2)), TE, "shape entries must be"),
    ("getvar-str-shape", lambda: tg.get_variable("v", "ab"), TE, "shape must be a list or tuple"),
    ("getvar-dtype", lambda: tg.get_variable("v", (2,), dtype="foo"), TE, "'foo' is not a tensor dtype"),
    ("getvar-name", lambda: tg.get_variable(3, (2,)), TE, "name must be a non-empty string"),
    ("getvar-init", lambda: tg.get_variable("v", (2,), initializer="nope"), VE, "nope"),
    ("varscope-reuse", lambda: tg.variable_scope("a", reuse="yes").__enter__(), VE,
     "reuse must be None, True, False or tg.AUTO_REUSE"),
]


def _layer_cases():
    L = layers
    return [
        ("dense-units-0", lambda: L.Dense(0), VE, "units"),
        ("dense-units-neg", lambda: L.Dense(-3), VE, "units"),
        ("dense-units-float", lambda: L.Dense(2.5), (TE, VE), "units"),
        ("dense-units-str", lambda: L.Dense("3"), (TE, VE), "units"),
        ("dense-activation", lambda: L.Dense(2, activation="nope"), VE, "nope"),
        ("dense-initializer", lambda: L.Dense(2, kernel_initializer="nope"), VE, "nope"),
        ("dense-regularizer", lambda: L.Dense(2, kernel_regularizer="nope"), VE, "nope"),
        ("dense-constraint", lambda: L.Dense(2, kernel_constraint="nope"), VE, "nope"),
        ("dense-kwarg", lambda: L.Dense(2, foo=1), TE, "unknown keyword argument"),
        ("dense-dtype", lambda: L.Dense(2, dtype="int32"), VE, "dtype must be a float dtype"),
        ("dense-dtype-bad", lambda: L.Dense(2, dtype="foo"), VE, "dtype must be a float dtype .*'foo'"),
        ("dense-name", lambda: L.Dense(2, name="a/b"), VE, "name must be a non-empty string without '/'"),
        ("dense-name-int", lambda: L.Dense(2, name=3), VE, "name must be a non-empty string"),
        ("dense-set-count", lambda: _built_dense().set_weights([np.ones((3, 2))]), VE,
         "expected 2 arrays"),
        ("dense-set-shape", lambda: _built_dense().set_weights([np.ones((2, 3)), np.ones(2)]), VE,
         "has shape"),
        ("dense-set-str", lambda: _built_dense().set_weights([np.ones((3, 2)), np.array(["a", "b"])]),
         VE, "needs a numeric array"),
        ("dense-from-config", lambda: L.Dense.from_config({"units": 2, "nope": 1}), TE, "nope"),
        ("emb-input-dim", lambda: L.Embedding(0, 2), VE, "input_dim"),
        ("emb-output-dim", lambda: L.Embedding(5, -1), VE, "output_dim"),
        ("emb-bool-ids", lambda: L.Embedding(5, 2)(tg.constant([[True]])), VE,
         "ids must be integers, got bool"),
        ("emb-str-ids", lambda: L.Embedding(5, 2)(np.array([["a"]])), TE, "cannot convert"),
        ("emb-neg-id", lambda: L.Embedding(5, 2)(np.array([[-1]])), IE, r"index -1 is out of range \[0, 5\)"),
        ("emb-big-id", lambda: L.Embedding(5, 2)(np.array([[5]])), IE, "index 5 is out of range"),
        ("lstm-units", lambda: L.LSTM(0), VE, "units"),
        ("lstm-dropout", lambda: L.LSTM(2, dropout=1.0), VE, "dropout"),
        ("lstm-rec-dropout", lambda: L.LSTM(2, recurrent_dropout=-0.1), VE, "recurrent_dropout"),
        ("lstm-implementation", lambda: L.LSTM(2, implementation=3), VE, "implementation"),
        ("lstm-activation", lambda: L.LSTM(2, activation="nope"), VE, "nope"),
        ("lstm-kwarg", lambda: L.LSTM(2, foo=1), TE, "unknown keyword argument"),
        ("lstm-dtype", lambda: L.LSTM(2, dtype="foo"), VE, "dtype must be a float dtype .*'foo'"),
        ("lstm-rank", lambda: L.LSTM(2)(tg.placeholder((2, 3))), VE, "expected inputs of rank 3"),
        ("lstm-zero-steps", lambda: L.LSTM(2)(tg.placeholder((2, 0, 3))), VE, "zero time steps"),
        ("lstm-mask-shape", lambda: L.LSTM(2)(tg.placeholder((2, 3, 4)), mask=np.ones((2, 4), bool)),
         VE, r"mask must have shape \(batch, time\)"),
        ("lstm-reset-not-stateful", lambda: L.LSTM(2).reset_states(), VE, "needs stateful=True"),
        ("cell-units", lambda: L.LSTMCell(-1), VE, "units"),
        ("tf1-cell-dtype", lambda: L.rnn_cell.LSTMCell(3, dtype="foo"), TE,
         "LSTMCell: dtype must be a float type such as 'float32', got 'foo'"),
        ("tf1-cell-dtype-int", lambda: L.rnn_cell.LSTMCell(3, dtype="int32"), TE,
         "dtype must be a float type, got int32"),
        ("tf1-set-weights-str", lambda: _built_tf1().set_weights(
            [np.ones((5, 12)), np.array(["a"] * 12)]), TE, "LSTMCell 'lstm_cell': weight .*bias"),
        ("tf1-set-weights-count", lambda: _built_tf1().set_weights([np.ones(1)]), VE,
         "expected 2 arrays"),
        ("cell-initializer", lambda: L.LSTMCell(2, recurrent_initializer="nope"), VE, "nope"),
    ]


def _built_tf1():
    cell = layers.rnn_cell.LSTMCell(3)
    cell.build((None, 2))
    return cell


def _built_dense():
    d = layers.Dense(2)
    d(tg.placeholder((None, 3)))
    return d


BUILD += _layer_cases()


@pytest.mark.parametrize("make,error,words", [c[1:] for c in BUILD], ids=[c[0] for c in BUILD])
def test_refused_before_running(make, error, words):
    with pytest.raises(error, match=words):
        make()


def _gather_run(idx_value):
    idx = tg.placeholder((None,), "int32", name="idx")
    return tg.gather(tg.constant(np.ones((3, 2))), idx), {idx: idx_value}


def _ids_run(ids):
    x = tg.placeholder((1, 1), "int32", name="ids")
    return layers.Embedding(4, 2)(x), {x: ids}


def _labels_run(labels):
    y = tg.placeholder((1,), "int32", name="labels")
    return tg.losses.sparse_softmax_cross_entropy(y, tg.constant(np.zeros((1, 3), "float32"))), {y: labels}


def _scan_run(n):
    x = tg.placeholder((None, 2), name="seq")
    c, _ = tg.scan(lambda c, xt: (c + xt, xt), x, tg.zeros((2,)))
    return c, {x: np.ones((n, 2), "float32")}


def _reshape_run():
    x = tg.placeholder((None, 4), name="x")
    return tg.reshape(x, (-1, 3)), {x: np.ones((2, 4), "float32")}


def _broadcast_run():
    a, b = tg.placeholder((None,), name="a"), tg.placeholder((None,), name="b")
    return a + b, {a: np.ones(2, "float32"), b: np.ones(3, "float32")}


def _matmul_run():
    a, b = tg.placeholder((2, None), name="a"), tg.placeholder((None, 2), name="b")
    return tg.matmul(a, b), {a: np.ones((2, 3), "float32"), b: np.ones((4, 2), "float32")}


RUN = [
    ("gather-fed-high", lambda: _gather_run([3]), IE, "index 3 is out of range for axis 0 of size 3"),
    ("gather-fed-low", lambda: _gather_run([-4]), IE, "index -4 is out of range"),
    ("embedding-fed-neg", lambda: _ids_run([[-1]]), IE, r"index -1 is out of range \[0, 4\)"),
    ("embedding-fed-high", lambda: _ids_run([[4]]), IE, r"index 4 is out of range \[0, 4\)"),
    ("labels-fed-high", lambda: _labels_run([3]), IE, r"index 3 is out of range \[0, 3\)"),
    ("labels-fed-neg", lambda: _labels_run([-1]), IE, r"index -1 is out of range \[0, 3\)"),
    ("scan-fed-empty", lambda: _scan_run(0), VE, "zero time steps"),
    ("reshape-fed", _reshape_run, VE, "reshape"),
    ("broadcast-fed", _broadcast_run, VE, "add"),
    ("matmul-fed", _matmul_run, VE, "matmul"),
]


@pytest.mark.parametrize("make,error,words", [c[1:] for c in RUN], ids=[c[0] for c in RUN])
def test_built_fine_refused_when_run(make, error, words):
    fetch, feed = make()                      # building succeeds: the values come later
    with pytest.raises(error, match=words):
        tg.Session().run(fetch, feed)


@pytest.mark.parametrize("content,words", [
    (b"", "not a .npz weights file"),
    (b"junk", "not a .npz weights file"),
    (b"\x80\x04K\x01.", "not a .npz weights file"),              # a pickle
])
def test_corrupt_weight_files(tmp_path, content, words):
    with pytest.raises(ValueError, match=words):
        tg.load_weights(_file(tmp_path, content), [_var()])


def test_foreign_npz_without_the_tag(tmp_path):
    np.savez(tmp_path / "w.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="was not written by tinygraph.save_weights"):
        tg.load_weights(str(tmp_path / "w.npz"), [_var()])


def test_weight_file_with_a_foreign_key(tmp_path):
    np.savez(tmp_path / "w.npz", __format__=np.array("tinygraph-weights-v1"), a=np.ones(3))
    with pytest.raises(ValueError, match="entry 'a' that is not a weight"):
        tg.load_weights(str(tmp_path / "w.npz"), [_var()])


def test_weight_file_with_an_object_array(tmp_path):
    np.savez(tmp_path / "w.npz", __format__=np.array("tinygraph-weights-v1"),
             **{"0:w": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="needs unpickling"):
        tg.load_weights(str(tmp_path / "w.npz"), [_var()])


@pytest.mark.parametrize("target,words", [
    ([1, 2], "save_weights: expected a layer, a Variable or a list of them, got int 1"),
    ("path", "got str 'path'"),
    (None, "got NoneType"),
])
def test_save_weights_of_non_weights(tmp_path, target, words):
    with pytest.raises(TypeError, match=words):
        tg.save_weights(str(tmp_path / "w.npz"), target)


def test_load_weights_count_and_shape_mismatch(tmp_path):
    tg.save_weights(str(tmp_path / "w.npz"), [_var()])
    with pytest.raises(ValueError, match="holds 1 weights, the target has 2"):
        tg.load_weights(str(tmp_path / "w.npz"), [_var(), _var()])
    other = tg.Variable(np.ones(4, "float32"), name="w4")
    with pytest.raises(ValueError, match=r"'w4' expects \(4,\)"):
        tg.load_weights(str(tmp_path / "w.npz"), [other])


def test_fetch_structures_survive(tmp_path):
    Pair = collections.namedtuple("Pair", "a b")
    got = tg.Session().run({"p": Pair(tg.constant(1.0), [tg.constant(2.0)]),
                            "o": collections.OrderedDict(z=tg.constant(3.0))})
    assert got["p"].a == 1.0 and got["p"].b == [2.0] and isinstance(got["o"], collections.OrderedDict)

"""TF's own legacy RNN-cell test cases, ported: tensorflow/tensorflow
tensorflow/python/kernel_tests/nn_ops/rnn_cell_test.py, classes RNNTest and LSTMTest
(their cells, sizes and expected values; the code is ours). Each test names its source
case; "SPEC difference" marks where tinygraph deliberately differs.

TF1's session style carries over directly: placeholders, static_rnn/dynamic_rnn,
``sess.run(fetches, feed_dict)``."""
import numpy as np
import pytest
from tinygraph.layers import rnn_cell

import tinygraph as tg
from tinygraph import layers

U, D, B, T = 3, 5, 2, 8          # num_units, input_size, batch_size, max_length of the cases
SEED = 23489


class Plus1RNNCell(rnn_cell.RNNCell):
    """rnn_cell_test.py Plus1RNNCell: (output, new_state) = (input + 1, state + 1)."""
    output_size = 5
    state_size = 5

    def __call__(self, input_, state, scope=None):
        return input_ + 1, state + 1


def uniform(lo=-0.01, hi=0.01, seed=SEED):
    return tg.initializers.RandomUniform(lo, hi, seed=seed)


def step_inputs(dtype="float32", batch=B):
    """TF's ``max_length * [placeholder]``: one placeholder fed at every step."""
    x = tg.placeholder((batch, D), dtype)
    return x, [x] * T


# ---------------------------------------------------------------------- RNNTest

def test_invalid_sequence_length_shape():
    # RNNTest.testInvalidSequenceLengthShape
    x = tg.placeholder((3, 4))
    with pytest.raises(ValueError, match="must be a vector"):
        rnn_cell.static_rnn(Plus1RNNCell(), [x], dtype="float32", sequence_length=4)


def test_rnn():
    # RNNTest.testRNN
    x, inputs = step_inputs()
    outputs, state = rnn_cell.static_rnn(Plus1RNNCell(), inputs, dtype="float32")
    assert len(outputs) == T
    assert all(o.shape == x.shape and o.dtype == x.dtype for o in outputs)
    value = np.random.default_rng(SEED).normal(size=(B, D))
    got = tg.Session().run(outputs + [state], {x: value})
    for v in got[:-1]:
        np.testing.assert_allclose(v, value + 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[-1], T * np.ones((B, D)))


def test_dynamic_calculation():
    # RNNTest.testDynamicCalculation (sequence_length fed at run time)
    seq = tg.placeholder((None,), "int64")
    x, inputs = step_inputs()
    with tg.variable_scope("drop_scope"):
        outputs, state = rnn_cell.static_rnn(Plus1RNNCell(), inputs, sequence_length=seq,
                                             dtype="float32")
    assert len(outputs) == T
    value = np.random.default_rng(SEED).normal(size=(B, D))
    got = tg.Session().run(outputs + [state], {x: value, seq: [2, 3]})
    for v in got[:2]:                                  # fully calculated for t = 0, 1
        np.testing.assert_allclose(v, value + 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[2], np.vstack([np.zeros(D), 1.0 + value[1]]), rtol=1e-6)
    for v in got[3:T]:                                 # zero for t = 3+
        np.testing.assert_array_equal(v, 0.0)
    np.testing.assert_array_equal(got[-1], np.vstack([2.0 * np.ones(D), 3.0 * np.ones(D)]))


@pytest.mark.parametrize("prefix,outer", [("prefix", True), ("prefix", False), (None, False)])
def test_scope(prefix, outer):
    # RNNTest.testScope / _testScope: every variable is under the scope ("rnn" by
    # default). Plus1RNNCell has no variables, so the check uses TF1's LSTMCell.
    _, inputs = step_inputs()
    cell = rnn_cell.LSTMCell(U)
    if outer:
        with tg.variable_scope(prefix):
            rnn_cell.static_rnn(cell, inputs, dtype="float32")
    else:
        rnn_cell.static_rnn(cell, inputs, dtype="float32", scope=prefix)
    assert cell.weights and all(w.name.startswith((prefix or "rnn") + "/") for w in cell.weights)


# ---------------------------------------------------------------------- LSTMTest

@pytest.mark.parametrize("dtype", [None, "float16", "float32", "float64"])
def test_lstm_dtype(dtype):
    # LSTMTest.testDType (GitHub issue 16228): float32 unless the constructor says
    cell = rnn_cell.LSTMCell(10, dtype=dtype)
    cell.build((10, 50))
    bias = cell.weights[1]
    assert bias.name.endswith("bias") and bias.dtype == np.dtype(dtype or "float32")


def test_no_proj_no_sharding():
    # LSTMTest.testNoProjNoSharding
    x, inputs = step_inputs()
    cell = rnn_cell.LSTMCell(U, initializer=uniform(), state_is_tuple=False)
    outputs, _ = rnn_cell.static_rnn(cell, inputs, dtype="float32")
    assert len(outputs) == T and all(o.shape == (B, U) for o in outputs)
    tg.Session().run(tg.global_variables_initializer())
    got = tg.Session().run(outputs, {x: np.random.default_rng(SEED).normal(size=(B, D))})
    assert all(np.isfinite(v).all() for v in got)


def test_cell_clipping():
    # LSTMTest.testCellClipping: c clipped to 0 => tanh(c) = 0 => m == 0
    x, inputs = step_inputs()
    cell = rnn_cell.LSTMCell(U, use_peepholes=True, cell_clip=0.0, initializer=uniform(),
                             state_is_tuple=False)
    outputs, _ = rnn_cell.static_rnn(cell, inputs, dtype="float32")
    for v in tg.Session().run(outputs, {x: np.random.default_rng(SEED).normal(size=(B, D))}):
        np.testing.assert_array_equal(v, np.zeros((B, U)))


def test_state_savers_are_not_supported():
    # LSTMTest.testNoProjNoSharding{Simple,Tuple,NestedTuple}StateSaver. SPEC
    # difference: TF1's static_state_saving_rnn (and MultiRNNCell) are not part of
    # layers.rnn_cell (SPEC 7); stateful layers.RNN keeps states between runs instead.
    assert not hasattr(rnn_cell, "static_state_saving_rnn")


def test_proj_no_sharding():
    # LSTMTest.testProjNoSharding (unknown batch in the inputs)
    x = tg.placeholder((None, D))
    cell = rnn_cell.LSTMCell(U, use_peepholes=True, num_proj=4, initializer=uniform(),
                             state_is_tuple=False)
    outputs, _ = rnn_cell.static_rnn(cell, [x] * T, dtype="float32")
    got = tg.Session().run(outputs, {x: np.random.default_rng(SEED).normal(size=(B, D))})
    assert len(got) == T and all(v.shape == (B, 4) for v in got)


def test_state_tuple_with_proj_and_sequence_length():
    # LSTMTest._testStateTupleWithProjAndSequenceLength (weights tied by reuse)
    x = tg.placeholder((None, D))
    make = lambda tup, reuse=None: rnn_cell.LSTMCell(
        U, use_peepholes=True, num_proj=4, initializer=uniform(), state_is_tuple=tup,
        reuse=reuse)
    with tg.variable_scope("root"):
        out_nt, state_nt = rnn_cell.static_rnn(make(False), [x] * T, dtype="float32",
                                               sequence_length=[4, 6])
    with tg.variable_scope("root", reuse=True):
        out_t, state_t = rnn_cell.static_rnn(make(True), [x] * T, dtype="float32",
                                             sequence_length=[4, 6])
    assert isinstance(state_t, tuple) and isinstance(state_nt, tg.Tensor)
    value = np.random.default_rng(SEED).normal(size=(B, D))
    got_nt, got_t, s_nt, s_t = tg.Session().run([out_nt, out_t, state_nt, state_t], {x: value})
    np.testing.assert_array_equal(got_nt, got_t)
    np.testing.assert_array_equal(s_nt, np.hstack(s_t))


def test_proj_sharding_is_refused():
    # LSTMTest.testProjSharding, testShardNoShardEquivalentOutput. SPEC difference: the
    # deprecated num_unit_shards / num_proj_shards are accepted only as None or 1 (TF
    # shards the kernel into equal-valued pieces; the outputs did not change).
    with pytest.raises(ValueError, match="num_unit_shards is deprecated"):
        rnn_cell.LSTMCell(U, num_proj=4, num_unit_shards=2, num_proj_shards=3)
    with pytest.raises(ValueError, match="num_proj_shards is deprecated"):
        rnn_cell.LSTMCell(U, num_proj=4, num_proj_shards=3)


def test_double_input():
    # LSTMTest.testDoubleInput (without its shard arguments, see above)
    x = tg.placeholder((None, D), "float64")
    cell = rnn_cell.LSTMCell(U, use_peepholes=True, num_proj=4, initializer=uniform(-1, 1),
                             state_is_tuple=False)
    outputs, _ = rnn_cell.static_rnn(cell, [x] * T, initial_state=cell.zero_state(B, "float64"))
    value = np.random.default_rng(SEED).normal(size=(B, D))
    got = tg.Session().run(outputs, {x: value})
    assert len(got) == T and got[0].dtype == np.float64


def test_double_input_with_dynamic_calculation():
    # LSTMTest.testDoubleInputWithDropoutAndDynamicCalculation, without the
    # DropoutWrapper (not part of SPEC 7) and the shard arguments
    seq = tg.placeholder((None,), "int64")
    x = tg.placeholder((None, D), "float64")
    cell = rnn_cell.LSTMCell(U, use_peepholes=True, num_proj=4, initializer=uniform(),
                             state_is_tuple=False)
    outputs, state = rnn_cell.static_rnn(cell, [x] * T, sequence_length=seq,
                                         initial_state=cell.zero_state(B, "float64"))
    got, s = tg.Session().run([outputs, state], {x: np.ones((B, D)), seq: [2, 3]})
    assert got[0].dtype == np.float64 and s.dtype == np.float64
    np.testing.assert_array_equal(got[3], 0.0)          # past both lengths


def test_sharing_weights_with_reuse():
    # LSTMTest.testSharingWeightsWithReuse
    x = tg.placeholder((None, D))
    cell = rnn_cell.LSTMCell(U, use_peepholes=True, num_proj=4, initializer=uniform(-1, 1),
                             state_is_tuple=False)
    cell_d = rnn_cell.LSTMCell(U, use_peepholes=True, num_proj=4,
                               initializer=uniform(-1, 1, SEED + 1), state_is_tuple=False)
    with tg.variable_scope("share_scope"):
        out0, _ = rnn_cell.static_rnn(cell, [x] * T, dtype="float32")
    with tg.variable_scope("share_scope", reuse=True):
        out1, _ = rnn_cell.static_rnn(cell, [x] * T, dtype="float32")
    with tg.variable_scope("diff_scope"):
        out2, _ = rnn_cell.static_rnn(cell_d, [x] * T, dtype="float32")
    value = np.random.default_rng(SEED).normal(size=(B, D))
    v0, v1, v2 = tg.Session().run([out0, out1, out2], {x: value})
    for a, b, c in zip(v0, v1, v2):
        np.testing.assert_array_equal(a, b)             # same weights
        assert not np.allclose(a, c)                    # different weights


def test_plus1_cell_in_dynamic_rnn_and_keras_rnn():
    # RNNTest.testRNN's cell through dynamic_rnn and layers.RNN: a TF1 cell gets its
    # state bare (int state_size), as TF does
    x = np.ones((B, 4, 5), "float32")
    outputs, state = rnn_cell.dynamic_rnn(Plus1RNNCell(), x, dtype="float32")
    out, final = layers.RNN(Plus1RNNCell(), return_state=True)(x)
    got = tg.Session().run([outputs, state, out, final])
    np.testing.assert_array_equal(got[0], 2.0)
    np.testing.assert_array_equal(got[1], 4.0)
    np.testing.assert_array_equal(got[2], 2.0)
    np.testing.assert_array_equal(got[3], 4.0)


# ---------------------------------------------------------------------- contrib rnn_cell_test.py
# tensorflow/contrib/rnn/python/kernel_tests/rnn_cell_test.py: cases with computed
# numbers for TF1's LSTM math (LSTMBlockCell and LayerNormBasicLSTMCell without its
# norm compute the same step as rnn_cell.LSTMCell with forget_bias=1). SPEC
# difference: no MultiRNNCell; layers.StackedRNNCells stacks TF1 cells the same way.

def _stack_of_two(x, states, bias=None):
    cells = [rnn_cell.LSTMCell(2, initializer=tg.initializers.Constant(0.5), name=f"cell_{i}")
             for i in range(2)]
    out, new = layers.StackedRNNCells(cells)(x, [rnn_cell.LSTMStateTuple(*s) for s in states])
    if bias is not None:                       # that cell's bias took the scope initializer
        for cell in cells:
            cell.weights[1].assign_value(np.full(8, bias, "float32"))
    return tg.Session().run([out, new])


def test_lstm_block_cell_numbers():
    # LSTMBlockCellTest.testLSTMBlockCell ("these numbers are from testBasicLSTMCell")
    s = 0.1 * np.ones((1, 2), "float32")
    out, (s0, s1) = _stack_of_two(np.array([[1.0, 1.0]], "float32"), [(s, s), (s, s)])
    np.testing.assert_allclose(out, [[0.24024698] * 2], rtol=1e-6)
    np.testing.assert_allclose([s0.c, s0.h, s1.c, s1.h],
                               [[[0.68967271] * 2], [[0.44848421] * 2], [[0.39897051] * 2],
                                [[0.24024698] * 2]], rtol=1e-6)


def test_layer_norm_basic_lstm_cell_without_norm_numbers():
    # LayerNormBasicLSTMCellTest.testBasicLSTMCellWithoutNorm (both parts)
    f = lambda *v: np.array([v], "float32")
    out, (s0, s1) = _stack_of_two(f(1.0, 1.0), [(f(0.0, 0.1), f(0.2, 0.3)),
                                                (f(0.4, 0.5), f(0.6, 0.7))], bias=0.5)
    np.testing.assert_allclose(out, [[0.70230919, 0.72581059]], rtol=1e-6)
    np.testing.assert_allclose(s0.c, [[0.8020075, 0.89599884]], rtol=1e-6)
    np.testing.assert_allclose(s0.h, [[0.56668288, 0.60858738]], rtol=1e-6)
    np.testing.assert_allclose(s1.c, [[1.17500675, 1.26892781]], rtol=1e-6)
    np.testing.assert_allclose(s1.h, [[0.70230919, 0.72581059]], rtol=1e-6)
    tg.reset_default_graph()
    cell = rnn_cell.LSTMCell(2, initializer=tg.initializers.Constant(0.5))
    h, state = cell(f(1.0, 1.0, 1.0), rnn_cell.LSTMStateTuple(f(0.0, 0.1), f(0.2, 0.3)))
    cell.weights[1].assign_value(np.full(8, 0.5, "float32"))
    got_h, got = tg.Session().run([h, state])
    np.testing.assert_allclose(got_h, [[0.64121795, 0.68166804]], rtol=1e-6)
    np.testing.assert_allclose(got.c, [[0.88477188, 0.98103917]], rtol=1e-6)

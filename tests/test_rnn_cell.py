"""The TF1 legacy cell (layers/rnn_cell.py): weights and names, the variable store,
state conventions, initial states, the loops, gradients and bad input. Values
against TensorFlow are in tests/test_tf1_parity.py."""
import math

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.train import initializers
from tinygraph import layers
from tinygraph.layers import rnn_cell
from tinygraph.layers.rnn_cell import LSTMCell, LSTMStateTuple, dynamic_rnn, static_rnn
from tinygraph.testing import check_grads

B, T, D, U, P = 3, 5, 4, 3, 2


def _run(fetches, feed=None):
    return tg.Session().run(fetches, feed)


def _np_step(x, c, m, w, forget_bias=1.0, peep=False, cell_clip=None, proj_clip=None,
             act=np.tanh):
    """An independent NumPy TF1 step (gate order i, j, f, o)."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, j, f, o = np.split(np.concatenate([x, m], 1) @ w["kernel"] + w["bias"], 4, 1)
    pf = w["w_f_diag"] * c if peep else 0
    pi = w["w_i_diag"] * c if peep else 0
    c = sig(f + forget_bias + pf) * c + sig(i + pi) * act(j)
    if cell_clip is not None:
        c = np.clip(c, -cell_clip, cell_clip)
    m = sig(o + (w["w_o_diag"] * c if peep else 0)) * act(c)
    if "projection/kernel" in w:
        m = m @ w["projection/kernel"]
        if proj_clip is not None:
            m = np.clip(m, -proj_clip, proj_clip)
    return c, m


def _randomize(cell, rng, scale=0.5):
    for w in cell.weights:
        w.assign_value(rng.uniform(-scale, scale, w.shape))
    return {w.name.split(cell.name + "/", 1)[1]: w.value for w in cell.weights}


# ----------------------------------------------------------------------------- weights

@pytest.mark.parametrize("peep,proj", [(False, None), (True, None), (False, P), (True, P)])
def test_weight_names_shapes_and_order(peep, proj):
    cell = LSTMCell(U, use_peepholes=peep, num_proj=proj)
    assert cell.weights == [] and not cell.built
    cell(tg.placeholder((B, D)), cell.zero_state(B, "float32"))
    H = proj or U
    want = [("lstm_cell/kernel", (D + H, 4 * U)), ("lstm_cell/bias", (4 * U,))]
    if peep:
        want += [(f"lstm_cell/{k}", (U,)) for k in ("w_f_diag", "w_i_diag", "w_o_diag")]
    if proj:
        want += [("lstm_cell/projection/kernel", (U, P))]
    assert [(w.name, w.shape) for w in cell.weights] == want
    assert cell.variables == cell.weights == cell.trainable_weights
    assert all(isinstance(w, tg.Variable) and w.trainable for w in cell.weights)
    assert cell.state_size == LSTMStateTuple(U, H) and cell.output_size == H


def test_names_under_rnn_and_user_scopes():
    x = tg.placeholder((B, T, D))
    a = LSTMCell(U)
    dynamic_rnn(a, x, dtype="float32")
    b = LSTMCell(U, name="decoder", num_proj=P)
    static_rnn(b, tg.unstack(x, axis=1), dtype="float32", scope="seq2seq")
    c = LSTMCell(U)
    with tg.variable_scope("model"):
        c(x[:, 0], c.zero_state(B, "float32"))
    assert [w.name for w in a.weights] == ["rnn/lstm_cell/kernel", "rnn/lstm_cell/bias"]
    assert [w.name for w in b.weights] == ["seq2seq/decoder/kernel", "seq2seq/decoder/bias",
                                           "seq2seq/decoder/projection/kernel"]
    assert [w.name for w in c.weights] == ["model/lstm_cell/kernel", "model/lstm_cell/bias"]


def test_default_initializers():
    initializers.reseed(0)
    big = 64
    cell = LSTMCell(big, use_peepholes=True, num_proj=16)
    cell(tg.placeholder((2, 32)), cell.zero_state(2, "float32"))
    w = {v.name.split("/", 1)[1]: v.value for v in cell.weights}
    assert np.all(w["bias"] == 0)
    limits = {"kernel": math.sqrt(6 / (32 + 16 + 4 * big)),       # glorot over the whole kernel
              "w_f_diag": math.sqrt(3 / big),                     # glorot over a (U,) shape
              "projection/kernel": math.sqrt(6 / (big + 16))}
    for name, limit in limits.items():
        assert np.abs(w[name]).max() <= limit
        assert np.abs(w[name]).max() > 0.8 * limit
    assert w["w_f_diag"].dtype == np.float32


def test_initializer_covers_everything_but_the_bias():
    init = initializers.RandomUniform(0.1, 0.2, seed=3)
    cell = LSTMCell(U, use_peepholes=True, num_proj=P, initializer=init, dtype="float64")
    cell(tg.placeholder((B, D), "float64"), cell.zero_state(B))
    for w in cell.weights:
        assert w.dtype == np.float64
        if w.name.endswith("bias"):
            assert np.all(w.value == 0)
        else:
            assert np.all((w.value >= 0.1) & (w.value <= 0.2)), w.name
    by_name = LSTMCell(U, initializer="ones", name="other")
    by_name(tg.placeholder((B, D)), by_name.zero_state(B))
    assert np.all(by_name.weights[0].value == 1)


def test_get_and_set_weights():
    cell = LSTMCell(U, num_proj=P)
    cell(tg.placeholder((B, D)), cell.zero_state(B))
    arrays = [np.full(w.shape, k + 1.0) for k, w in enumerate(cell.weights)]
    cell.set_weights(arrays)
    for got, want in zip(cell.get_weights(), arrays):
        np.testing.assert_array_equal(got, want)
    before = cell.get_weights()
    with pytest.raises(ValueError, match="expected 3 arrays"):
        cell.set_weights(arrays[:2])
    with pytest.raises(ValueError, match="lstm_cell/projection/kernel.*shape"):
        cell.set_weights(arrays[:2] + [np.zeros((P, U))])
    for got, want in zip(cell.get_weights(), before):     # nothing half-updated
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------- reuse

def test_same_name_without_reuse_raises():
    x = tg.placeholder((B, D))
    first = LSTMCell(U)
    first(x, first.zero_state(B))
    second = LSTMCell(U)
    with pytest.raises(ValueError, match="lstm_cell/kernel already exists.*reuse=True"):
        second(x, second.zero_state(B))


def test_reuse_true_shares_the_variables(rng):
    x = tg.placeholder((B, D))
    first = LSTMCell(U, use_peepholes=True)
    out1, _ = first(x, first.zero_state(B))
    second = LSTMCell(U, use_peepholes=True, reuse=True)
    out2, _ = second(x, second.zero_state(B))
    assert len(second.weights) == 5
    assert all(a is b for a, b in zip(first.weights, second.weights))
    _randomize(first, rng)
    xv = rng.standard_normal((B, D)).astype("float32")
    a, b = _run([out1, out2], {x: xv})
    np.testing.assert_array_equal(a, b)


def test_reuse_true_needs_existing_variables_and_same_shapes():
    cell = LSTMCell(U, reuse=True)
    with pytest.raises(ValueError, match="lstm_cell/kernel does not exist"):
        cell(tg.placeholder((B, D)), cell.zero_state(B))
    first = LSTMCell(U)
    first(tg.placeholder((B, D)), first.zero_state(B))
    other_depth = LSTMCell(U, reuse=True)
    with pytest.raises(ValueError, match=r"lstm_cell/kernel: asked for shape \(9, 12\)"):
        other_depth(tg.placeholder((B, 6)), other_depth.zero_state(B))


def test_auto_reuse_and_scope_reuse():
    x = tg.placeholder((B, D))
    a = LSTMCell(U, reuse=tg.AUTO_REUSE)
    a(x, a.zero_state(B))
    b = LSTMCell(U, reuse=tg.AUTO_REUSE)
    b(x, b.zero_state(B))
    assert a.weights[0] is b.weights[0]
    c = LSTMCell(U)
    with tg.variable_scope("rnn"):
        c(x, c.zero_state(B))
    d = LSTMCell(U)                       # reuse inherited from the enclosing scope
    with tg.variable_scope("rnn", reuse=True):
        d(x, d.zero_state(B))
    assert c.weights[0] is d.weights[0] and c.weights[0] is not a.weights[0]


def test_dynamic_rnn_twice():
    x = tg.placeholder((B, T, D))
    cell = LSTMCell(U)
    dynamic_rnn(cell, x, dtype="float32")
    dynamic_rnn(cell, x, dtype="float32")          # the same cell: its weights again
    assert len(tg.get_default_graph().variable_store) == 2
    with pytest.raises(ValueError, match="rnn/lstm_cell/kernel already exists"):
        dynamic_rnn(LSTMCell(U), x, dtype="float32")
    dynamic_rnn(LSTMCell(U, reuse=True), x, dtype="float32")
    assert len(tg.get_default_graph().variable_store) == 2


def test_input_depth_cannot_change():
    cell = LSTMCell(U)
    cell(tg.placeholder((B, D)), cell.zero_state(B))
    with pytest.raises(ValueError, match="input depth changed.*depth 4.*shape \\(3, 5\\)"):
        cell(tg.placeholder((B, 5)), cell.zero_state(B))


# ----------------------------------------------------------------------------- the step

@pytest.mark.parametrize("kw", [
    dict(),
    dict(use_peepholes=True, cell_clip=0.2, forget_bias=0.0),
    dict(num_proj=P, proj_clip=0.1, activation="relu", forget_bias=2.5),
    dict(use_peepholes=True, num_proj=P, activation="sigmoid"),
])
def test_step_matches_numpy(kw, rng):
    cell = LSTMCell(U, dtype="float64", **kw)
    H = kw.get("num_proj") or U
    x, c0, h0 = (tg.placeholder(s, "float64") for s in ((B, D), (B, U), (B, H)))
    m, state = cell(x, LSTMStateTuple(c0, h0))
    w = _randomize(cell, rng)
    xv, cv, hv = (rng.standard_normal(s) for s in ((B, D), (B, U), (B, H)))
    got = _run([m, state], {x: xv, c0: cv, h0: hv})
    act = {"relu": lambda v: np.maximum(v, 0), "sigmoid": lambda v: 1 / (1 + np.exp(-v))}.get(
        kw.get("activation"), np.tanh)
    c_ref, m_ref = _np_step(xv, cv, hv, w, kw.get("forget_bias", 1.0), kw.get("use_peepholes"),
                            kw.get("cell_clip"), kw.get("proj_clip"), act)
    np.testing.assert_allclose(got[0], m_ref, rtol=1e-12)
    np.testing.assert_allclose(got[1].c, c_ref, rtol=1e-12)
    np.testing.assert_allclose(got[1].h, m_ref, rtol=1e-12)
    if kw.get("cell_clip"):
        assert np.abs(got[1].c).max() == pytest.approx(kw["cell_clip"])
    if kw.get("proj_clip"):
        assert np.abs(got[0]).max() == pytest.approx(kw["proj_clip"])


def test_activation_callable_and_ignored_proj_clip(rng):
    x = tg.placeholder((B, D), "float64")
    plain = LSTMCell(U, dtype="float64", name="plain")
    custom = LSTMCell(U, dtype="float64", name="custom", activation=lambda v: tg.tanh(v) * 2.0,
                      proj_clip=1e-3)          # no num_proj: proj_clip does nothing (TF1)
    clip_only = LSTMCell(U, dtype="float64", name="clip_only", proj_clip=1e-3)
    outs = [cell(x, cell.zero_state(B))[0] for cell in (plain, custom, clip_only)]
    w = _randomize(plain, rng)
    custom.set_weights(plain.get_weights())
    clip_only.set_weights(plain.get_weights())
    xv = rng.standard_normal((B, D))
    a, b, c = _run(outs, {x: xv})
    _, m_ref = _np_step(xv, 0 * a, 0 * a, w, act=lambda v: 2 * np.tanh(v))
    np.testing.assert_allclose(b, m_ref, rtol=1e-12)
    np.testing.assert_array_equal(a, c)
    assert np.abs(c).max() > 1e-3


def test_state_is_tuple_false(rng):
    x = tg.placeholder((B, D), "float64")
    tup = LSTMCell(U, num_proj=P, use_peepholes=True, dtype="float64", name="tup")
    cat = LSTMCell(U, num_proj=P, use_peepholes=True, dtype="float64", name="cat",
                   state_is_tuple=False)
    assert cat.state_size == U + P and cat.output_size == P
    c0, h0 = tg.placeholder((B, U), "float64"), tg.placeholder((B, P), "float64")
    m1, s1 = tup(x, LSTMStateTuple(c0, h0))
    m2, s2 = cat(x, tg.concat([c0, h0], 1))
    assert s2.shape == (B, U + P)
    _randomize(tup, rng)
    cat.set_weights(tup.get_weights())
    feed = {x: rng.standard_normal((B, D)), c0: rng.standard_normal((B, U)),
            h0: rng.standard_normal((B, P))}
    a1, t1, a2, t2 = _run([m1, s1, m2, s2], feed)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(t2, np.concatenate([t1.c, t1.h], 1))
    zero = cat.zero_state(B, "float64")
    assert isinstance(zero, tg.Tensor) and zero.shape == (B, U + P)
    with pytest.raises(ValueError, match=r"state must have shape \(batch, 5\)"):
        cat(x, tg.placeholder((B, 4), "float64"))
    with pytest.raises(ValueError, match="state_is_tuple=False the state is one tensor"):
        cat(x, LSTMStateTuple(c0, h0))


def test_state_tuple_accepts_plain_pairs_and_checks_widths():
    cell = LSTMCell(U, num_proj=P)
    x = tg.placeholder((B, D))
    c0, h0 = tg.placeholder((B, U)), tg.placeholder((B, P))
    m, state = cell(x, [c0, h0])
    assert isinstance(state, LSTMStateTuple) and state.c.shape == (B, U) and m.shape == (B, P)
    assert state.dtype == np.float32
    with pytest.raises(ValueError, match=r"state.h must have shape \(batch, 2\)"):
        cell(x, (c0, tg.placeholder((B, U))))
    with pytest.raises(ValueError, match="must be an LSTMStateTuple"):
        cell(x, c0)
    with pytest.raises(TypeError, match="c is float32 but h is float64"):
        LSTMStateTuple(c0, tg.placeholder((B, P), "float64")).dtype


# ----------------------------------------------------------------------------- initial states

def test_zero_state_static_and_dynamic_batch():
    cell = LSTMCell(U, num_proj=P)
    z = cell.zero_state(4, "float64")
    assert isinstance(z, LSTMStateTuple)
    assert (z.c.shape, z.h.shape, z.c.dtype) == ((4, U), (4, P), np.float64)
    x = tg.placeholder((None, D))
    zd = cell.zero_state(tg.shape(x)[0], "float32")
    assert zd.c.shape == (None, U)
    c, h = _run(zd, {x: np.ones((6, D), "float32")})
    assert c.shape == (6, U) and h.shape == (6, P) and not c.any() and not h.any()
    with pytest.raises(TypeError, match="batch_size must be a non-negative int"):
        cell.zero_state(2.5, "float32")
    with pytest.raises(TypeError, match="batch_size must be an int or a scalar int tensor"):
        cell.zero_state(tg.shape(x), "float32")


def test_get_initial_state():
    cell = LSTMCell(U)
    x = tg.placeholder((None, D), "float64")
    s = cell.get_initial_state(inputs=x)
    assert s.c.dtype == np.float64 and s.c.shape == (None, U)
    c, _ = _run(s, {x: np.ones((2, D))})
    assert c.shape == (2, U) and not c.any()
    s2 = cell.get_initial_state(batch_size=5, dtype="float32")
    assert s2.h.shape == (5, U) and s2.h.dtype == np.float32
    assert cell.get_initial_state(7, dtype="float32").c.shape == (7, U)   # Keras 3 style
    x3 = tg.placeholder((3, D), "float64")
    with pytest.raises(ValueError, match="batch_size 4 does not match the batch dimension 3"):
        cell.get_initial_state(inputs=x3, batch_size=4)
    with pytest.raises(ValueError, match="dtype float32 does not match the inputs' dtype float64"):
        cell.get_initial_state(inputs=x3, dtype="float32")
    with pytest.raises(ValueError, match="give inputs, or batch_size and dtype"):
        cell.get_initial_state(batch_size=3)
    with pytest.raises(ValueError, match="give inputs, or batch_size and dtype"):
        cell.get_initial_state()


# ----------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("arg", ["num_unit_shards", "num_proj_shards"])
def test_deprecated_shard_arguments(arg):
    LSTMCell(U, **{arg: None})
    LSTMCell(U, **{arg: 1})
    for bad in (2, 4, 0):
        with pytest.raises(ValueError, match=f"{arg} is deprecated.*None or 1, got {bad}"):
            LSTMCell(U, **{arg: bad})


@pytest.mark.parametrize("kw,msg", [
    (dict(num_units=0), "num_units must be a positive integer, got 0"),
    (dict(num_units=-3), "num_units must be a positive integer, got -3"),
    (dict(num_units=2.5), "num_units must be a positive integer, got 2.5"),
    (dict(num_units=True), "num_units must be a positive integer, got True"),
    (dict(num_units=3, num_proj=0), "num_proj must be a positive integer"),
    (dict(num_units=3, cell_clip=-1.0), "cell_clip must be a positive number or None"),
    (dict(num_units=3, num_proj=2, proj_clip="big"), "proj_clip must be a positive number"),
    (dict(num_units=3, forget_bias="1"), "forget_bias must be a number"),
    (dict(num_units=3, activation="gelu"),
     "unknown activation 'gelu'; valid names: relu, sigmoid, tanh"),
    (dict(num_units=3, activation=3), "activation must be None, a name"),
    (dict(num_units=3, reuse="yes"), "reuse must be None, True, False or tg.AUTO_REUSE"),
    (dict(num_units=3, name="a/b"), "name must be a non-empty string without '/'"),
])
def test_bad_constructor_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        LSTMCell(**kw)


def test_bad_dtypes():
    with pytest.raises(TypeError, match="dtype must be a float type, got int32"):
        LSTMCell(U, dtype="int32")
    cell = LSTMCell(U, dtype="float64")
    with pytest.raises(TypeError, match="inputs are float32, the cell's weights are float64"):
        cell(tg.placeholder((B, D)), cell.zero_state(B))
    with pytest.raises(TypeError, match="inputs must be float, got int32"):
        LSTMCell(U)(tg.placeholder((B, D), "int32"), None)


def test_dtype_follows_the_inputs_and_states_must_match():
    x64 = tg.placeholder((B, T, D), "float64")
    cell = LSTMCell(U)                         # no dtype: taken from the inputs
    out, state = dynamic_rnn(cell, x64, dtype="float64")
    assert cell.dtype == np.float64 and out.dtype == np.float64
    assert all(w.dtype == np.float64 for w in cell.weights)
    x32 = tg.placeholder((B, T, D))
    with pytest.raises(TypeError, match="state.c is float64, the cell computes in float32"):
        dynamic_rnn(LSTMCell(U, name="other"), x32, dtype="float64")


@pytest.mark.parametrize("shape", [(B, T, D), (D,)])
def test_cell_input_must_be_2d(shape):
    cell = LSTMCell(U)
    with pytest.raises(ValueError, match=r"inputs must be 2-D \(batch, depth\), got shape"):
        cell(tg.placeholder(shape), cell.zero_state(B))
    assert not cell.built


def test_unknown_input_depth():
    cell = LSTMCell(U)
    with pytest.raises(ValueError, match="input depth .* must be known"):
        cell(tg.placeholder((B, None)), cell.zero_state(B))


def test_loop_argument_errors():
    cell = LSTMCell(U)
    x = tg.placeholder((B, T, D))
    with pytest.raises(ValueError, match="give initial_state or dtype"):
        dynamic_rnn(cell, x)
    with pytest.raises(ValueError, match=r"inputs must be 3-D \(B, T, D\), got shape \(3, 4\)"):
        dynamic_rnn(cell, x[:, 0], dtype="float32")
    with pytest.raises(ValueError, match="zero time steps"):
        dynamic_rnn(cell, tg.placeholder((B, 0, D)), dtype="float32")
    with pytest.raises(ValueError, match=r"sequence_length must be a vector of length "
                                         r"batch_size \(3\)"):
        dynamic_rnn(cell, x, sequence_length=[1, 2], dtype="float32")
    with pytest.raises(TypeError, match="sequence_length must hold ints"):
        dynamic_rnn(cell, x, sequence_length=tg.placeholder((B,)), dtype="float32")
    with pytest.raises(ValueError, match="initial_state has 1 tensors.*needs 2"):
        dynamic_rnn(cell, x, initial_state=[tg.placeholder((B, U))])
    with pytest.raises(TypeError, match="inputs must be one 3-D tensor"):
        dynamic_rnn(cell, [x], dtype="float32")
    with pytest.raises(TypeError, match="inputs must be a list of \\(batch, depth\\) tensors"):
        static_rnn(cell, x, dtype="float32")
    with pytest.raises(ValueError, match="inputs is empty"):
        static_rnn(cell, [], dtype="float32")
    with pytest.raises(ValueError, match=r"inputs\[1\] must be 2-D"):
        static_rnn(cell, [x[:, 0], x], dtype="float32")
    with pytest.raises(ValueError, match="give initial_state or dtype"):
        static_rnn(cell, tg.unstack(x, axis=1))


# ----------------------------------------------------------------------------- the loops

def _np_rnn(xs, c, m, w, seqlen, **kw):
    outs = []
    for t, x in enumerate(xs):
        c2, m2 = _np_step(x, c, m, w, **kw)
        keep = (t < np.asarray(seqlen))[:, None]
        outs.append(np.where(keep, m2, 0.0))
        c, m = np.where(keep, c2, c), np.where(keep, m2, m)
    return np.stack(outs), c, m


def test_dynamic_and_static_rnn_match_numpy_with_unknown_shapes(rng):
    """Unknown batch and time (placeholders (None, None, D)), a fed sequence_length
    with a 0, a given initial state; dynamic_rnn, time-major dynamic_rnn and
    static_rnn agree with a NumPy loop."""
    kw = dict(use_peepholes=True, cell_clip=0.4, num_proj=P, proj_clip=0.3)
    cell = LSTMCell(U, dtype="float64", **kw)
    x = tg.placeholder((None, None, D), "float64")
    seq = tg.placeholder((None,), "int32")
    c0, h0 = tg.placeholder((None, U), "float64"), tg.placeholder((None, P), "float64")
    out, st = dynamic_rnn(cell, x, sequence_length=seq, initial_state=(c0, h0))
    assert out.shape == (None, None, P) and isinstance(st, LSTMStateTuple)
    out_tm, st_tm = dynamic_rnn(cell, tg.transpose(x, (1, 0, 2)), sequence_length=seq,
                                initial_state=LSTMStateTuple(c0, h0), time_major=True)
    xs = tg.placeholder((T, B, D), "float64")
    outs_s, st_s = static_rnn(cell, tg.unstack(xs, axis=0), initial_state=LSTMStateTuple(c0, h0),
                              sequence_length=seq)
    w = _randomize(cell, rng)
    xv = rng.standard_normal((B, T, D))
    lens = np.array([5, 0, 2], "int32")
    feed = {x: xv, xs: xv.transpose(1, 0, 2), seq: lens,
            c0: rng.standard_normal((B, U)), h0: rng.standard_normal((B, P))}
    ref_out, ref_c, ref_h = _np_rnn(xv.transpose(1, 0, 2), feed[c0], feed[h0], w, lens,
                                    peep=True, cell_clip=0.4, proj_clip=0.3)
    got = _run([out, st, out_tm, st_tm, outs_s, st_s], feed)
    np.testing.assert_allclose(got[0], ref_out.transpose(1, 0, 2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[2], ref_out, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.stack(got[4]), ref_out, rtol=1e-12, atol=1e-15)
    for s in (got[1], got[3], got[5]):
        np.testing.assert_allclose(s.c, ref_c, rtol=1e-12)
        np.testing.assert_allclose(s.h, ref_h, rtol=1e-12)
    assert not got[0][1].any()                        # length 0: zero outputs ...
    np.testing.assert_array_equal(got[1].c[1], feed[c0][1])   # ... and the initial state


def test_dynamic_rnn_is_one_loop_and_static_rnn_is_unrolled():
    x = tg.placeholder((B, 50, D))
    out, _ = dynamic_rnn(LSTMCell(U), x, dtype="float32")
    nodes = tg.ir.topo_nodes([out])
    assert sum(n.op.name == "scan" for n in nodes) == 1
    assert sum(n.op.name == "matmul" for n in nodes) == 0        # the step lives in the body
    outs, _ = static_rnn(LSTMCell(U, name="s"), tg.unstack(x[:, :12], axis=1), dtype="float32")
    assert len(outs) == 12
    unrolled = tg.ir.topo_nodes(outs)
    assert sum(n.op.name == "matmul" for n in unrolled) == 12
    assert {n.scope for n in unrolled if n.op.name == "matmul"} == \
        {f"rnn/step_{t}/s" for t in range(12)}


def test_dynamic_rnn_gradients_finite_differences(rng):
    cell = LSTMCell(U, use_peepholes=True, num_proj=P, cell_clip=2.0, dtype="float64",
                    initializer=initializers.RandomUniform(-0.5, 0.5, seed=1))

    def build(x, c0, h0):
        out, st = dynamic_rnn(cell, x, sequence_length=[4, 0, 2],
                              initial_state=LSTMStateTuple(c0, h0))
        return [out, st.c, st.h]

    args = [rng.standard_normal((B, 4, D)), rng.standard_normal((B, U)),
            rng.standard_normal((B, P))]
    check_grads(build, args, order=1)


def test_dynamic_rnn_second_order_tiny(rng):
    cell = LSTMCell(2, use_peepholes=True, dtype="float64", state_is_tuple=False,
                    initializer=initializers.RandomUniform(-0.5, 0.5, seed=2))

    def build(x, s0):
        out, st = dynamic_rnn(cell, x, initial_state=s0, sequence_length=[3, 1])
        return [out, st]

    check_grads(build, [rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4))], order=2)


def test_weight_hessian_vector_product(rng):
    """Second order with respect to the weights (captured by the loop): the
    directional derivative of <dL/dW, u> along v by finite differences."""
    cell = LSTMCell(U, use_peepholes=True, num_proj=P, dtype="float64")
    x = tg.constant(rng.standard_normal((B, 3, D)))
    out, st = dynamic_rnn(cell, x, dtype="float64", sequence_length=[3, 1, 2])
    loss = tg.reduce_sum(out * rng.standard_normal((B, 3, P))) + tg.reduce_sum(st.c ** 2)
    ws = cell.weights
    _randomize(cell, rng)
    base = [w.value.copy() for w in ws]
    u = [rng.standard_normal(w.shape) for w in ws]
    v = [rng.standard_normal(w.shape) for w in ws]
    g = tg.gradients(loss, ws)
    gu = tg.add_n([tg.reduce_sum(gi * ui) for gi, ui in zip(g, u)])
    hv = tg.gradients(gu, ws)
    sess = tg.Session()
    analytic = sum(float(np.sum(h * vi)) for h, vi in zip(sess.run(hv), v))
    eps, vals = 1e-5, []
    for sign in (1, -1):
        for w, b0, vi in zip(ws, base, v):
            w.assign_value(b0 + sign * eps * vi)
        vals.append(sess.run(gu))
    numeric = (vals[0] - vals[1]) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


# ----------------------------------------------------------------------------- Keras RNN

@pytest.mark.parametrize("unroll", [False, True])
def test_keras_rnn_wrapper_gives_output_c_h(unroll, rng):
    if not hasattr(layers, "RNN"):
        pytest.skip("layers.RNN (issue 3, written in parallel) does not exist yet")
    cell = LSTMCell(U, num_proj=P, use_peepholes=True, dtype="float64")
    x = tg.placeholder((B, T, D), "float64")
    result = layers.RNN(cell, return_state=True, return_sequences=True, unroll=unroll,
                        dtype="float64")(x)
    assert len(result) == 3
    seq_out, c, h = result                       # the legacy order: (output, c, h)
    assert seq_out.shape == (B, T, P) and c.shape == (B, U) and h.shape == (B, P)
    last, c2, h2 = layers.RNN(cell, return_state=True, unroll=unroll, dtype="float64")(x)
    ref_out, ref_state = dynamic_rnn(cell, x, dtype="float64")   # the same (built) cell
    assert len(tg.get_default_graph().variable_store) == 6       # one set of weights
    _randomize(cell, rng)
    xv = rng.standard_normal((B, T, D))
    got = _run([seq_out, c, h, last, c2, h2, ref_out, ref_state], {x: xv})
    ref = [got[6], got[7].c, got[7].h, got[6][:, -1], got[7].c, got[7].h]
    for a, b in zip(got[:6], ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_module_is_exported():
    assert rnn_cell.LSTMCell is LSTMCell
    assert set(rnn_cell.__all__) == {"LSTMCell", "LSTMStateTuple", "dynamic_rnn", "static_rnn"}

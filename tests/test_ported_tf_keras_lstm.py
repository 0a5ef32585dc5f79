"""tf-keras' own LSTM layer test cases, ported: keras-team/tf-keras
tf_keras/layers/rnn/lstm_test.py (first part: shapes, training, initial and stateful
states, masking; the code is ours). Each test names its source case; "SPEC
difference" marks where tinygraph deliberately differs. A ``train_on_batch`` / ``fit``
step is one SGD step here; tf-keras' ``Masking()`` is an explicit ``mask=`` (or an
Embedding's mask inside a Sequential).

Not ported: the cuDNN eligibility flags (``_could_use_gpu_kernel``; tinygraph's
fusion reports itself in ``sess.explain``), grappler rewrite configs, h5 save/load
(SPEC 6's load_keras_model is tested with the saving code)."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers


def run(fetches, feed=None, session=None):
    return (session or tg.Session()).run(fetches, feed)


def sgd_step(y, target, loss="mse", lr=0.01):
    target = tg.constant(np.asarray(target, y.dtype))
    value = tg.losses.mean_squared_error(target, y) if loss == "mse" else \
        tg.losses.softmax_cross_entropy(target, y)
    return value, tg.optimizers.SGD(lr).minimize(value)


def one_step(y, target, feed=None, **kw):
    loss, step = sgd_step(y, target, **kw)
    before, _ = run([loss, step], feed)
    assert np.isfinite(before)


def test_static_shape_inference_lstm():
    # test_static_shape_inference_LSTM (GitHub issue 15165)
    model = layers.Sequential([layers.Dense(4), layers.LSTM(2, return_sequences=True)])
    assert model(tg.placeholder((None, 3, 4))).shape == (None, 3, 2)


def test_dynamic_behavior_lstm(rng):
    # test_dynamic_behavior_LSTM: unknown T, one step with SGD(0.001)
    x = tg.placeholder((None, None, 4))
    y = layers.Sequential([layers.LSTM(2)])(x)
    one_step(y, rng.random((2, 2)), {x: rng.random((2, 3, 4))}, lr=0.001)


def test_stacking_lstm(rng):
    # test_stacking_LSTM (categorical cross entropy on softmax targets)
    targets = np.abs(rng.random((2, 3, 5)))
    targets /= targets.sum(-1, keepdims=True)
    model = layers.Sequential([layers.LSTM(10, return_sequences=True),
                               layers.LSTM(5, return_sequences=True)])
    one_step(model(rng.random((2, 3, 4)).astype("float32")), targets, loss="xent")


@pytest.mark.parametrize("stateful", [False, True])
def test_from_config_lstm(stateful):
    # test_from_config_LSTM
    l1 = layers.LSTM(units=1, stateful=stateful)
    assert layers.LSTM.from_config(l1.get_config()).get_config() == l1.get_config()


def test_specify_initial_state_placeholders(rng):
    # test_specify_initial_state_keras_tensor (Keras Inputs are placeholders here)
    x = tg.placeholder((None, 3, 4))
    states = [tg.placeholder((None, 3)) for _ in range(2)]
    y = layers.LSTM(3)(x, initial_state=states)
    feed = {x: rng.random((2, 3, 4)), states[0]: rng.random((2, 3)),
            states[1]: rng.random((2, 3))}
    one_step(y, rng.random((2, 3)), feed, loss="xent")
    assert states[0] in {n.outputs[0] for n in tg.ir.graph.topo_nodes([y])
                         if n.op.is_placeholder}


def test_specify_initial_state_variables(rng):
    # test_specify_initial_state_non_keras_tensor (random-normal Variables as states)
    states = [tg.Variable(rng.normal(size=(2, 3)).astype("float32"), trainable=False)
              for _ in range(2)]
    y = layers.LSTM(3)(rng.random((2, 3, 4)).astype("float32"), initial_state=states)
    one_step(y, rng.random((2, 3)), loss="xent")


def test_reset_states_with_values():
    # test_reset_states_with_values. SPEC difference: states are built on the first
    # call (calling build() directly is not how a tinygraph layer is built).
    layer = layers.LSTM(3, stateful=True)
    layer(np.zeros((2, 3, 4), "float32"))
    n_weights = len(layer.weights)
    layer.reset_states()
    assert len(layer.states) == 2
    np.testing.assert_allclose(layer.states[0].value, np.zeros((2, 3)))
    layer.reset_states([np.ones(s.shape) for s in layer.states])
    np.testing.assert_allclose(layer.states[0].value, np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected 2 arrays, got 3"):
        layer.reset_states([1] * 3)
    assert len(layer.weights) == n_weights          # states are not weights


def test_specify_state_with_masking(rng):
    # test_specify_state_with_masking
    x = tg.placeholder((None, 3, 4))
    states = [tg.placeholder((None, 3)) for _ in range(2)]
    y = layers.LSTM(3)(x, initial_state=states, mask=tg.reduce_any(tg.not_equal(x, 0.0), -1))
    feed = {x: rng.random((2, 3, 4)), states[0]: rng.random((2, 3)),
            states[1]: rng.random((2, 3))}
    one_step(y, rng.random((2, 3)), feed, loss="xent")


def test_return_state_stateful_masked(rng):
    # test_return_state: the returned h is what the stateful layer stored
    x = rng.random((2, 3, 4)).astype("float32")
    layer = layers.LSTM(3, return_state=True, stateful=True)
    _, h, _ = layer(x, mask=np.any(x != 0, -1))
    got = run(h)
    np.testing.assert_allclose(layer.states[0].value, got, atol=1e-6)


def test_state_reuse(rng):
    # test_state_reuse: one LSTM's states start the next
    out, *state = layers.LSTM(3, return_state=True, return_sequences=True)(
        rng.random((2, 3, 4)).astype("float32"))
    assert run(layers.LSTM(3)(out, initial_state=state)).shape == (2, 3)


def test_initial_states_as_other_inputs():
    # test_initial_states_as_other_inputs. SPEC difference: the states go in
    # ``initial_state=``; a list [inputs, *states] as the inputs is refused, clearly.
    x = tg.placeholder((None, 3, 4))
    states = [tg.placeholder((None, 3)) for _ in range(2)]
    with pytest.raises(ValueError, match="rank 3"):
        layers.LSTM(3)([x] + states)


@pytest.mark.parametrize("mode", [1, 2])
def test_implementation_mode_lstm(mode, rng):
    # test_implementation_mode_LSTM v1, v2 (layer_test shape; constraints; Masking fit).
    # SPEC difference: implementation=0 (tf-keras' deprecated mode) raises ValueError.
    x = rng.random((2, 3, 4)).astype("float32")
    assert run(layers.LSTM(2, implementation=mode)(x)).shape == (2, 2)
    k, r, b = (layers.constraints.max_norm(0.01) for _ in range(3))
    layer = layers.LSTM(5, kernel_constraint=k, recurrent_constraint=r, bias_constraint=b,
                        implementation=mode)
    layer(x)
    assert (layer.cell.kernel.constraint, layer.cell.recurrent_kernel.constraint,
            layer.cell.bias.constraint) == (k, r, b)
    targets = np.abs(rng.random((2, 3, 5)))
    targets /= targets.sum(-1, keepdims=True)
    y = layers.LSTM(5, return_sequences=True, implementation=mode)(x, mask=np.any(x != 0, -1))
    one_step(y, targets, loss="xent")
    with pytest.raises(ValueError, match="implementation must be 1 or 2"):
        layers.LSTM(2, implementation=0)


def test_masking_with_stacking_lstm(rng):
    # test_masking_with_stacking_LSTM (the mask reaches both LSTMs of a Sequential)
    ids = rng.integers(0, 4, size=(2, 3))
    targets = np.abs(rng.random((2, 3, 5)))
    targets /= targets.sum(-1, keepdims=True)
    model = layers.Sequential([layers.Embedding(4, 4, mask_zero=True),
                               layers.LSTM(10, return_sequences=True),
                               layers.LSTM(5, return_sequences=True)])
    one_step(model(ids), targets, loss="xent")

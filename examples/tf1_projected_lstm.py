"""A TF1-style projected LSTM with peepholes, trained a few steps.

The model is the kind TF1 speech and language models used
(``tf.compat.v1.nn.rnn_cell.LSTMCell(num_units, use_peepholes=True, cell_clip=...,
num_proj=...)`` run by ``tf.compat.v1.nn.dynamic_rnn`` with ``sequence_length``),
written with tinygraph's port of it. The task is synthetic: read a sequence of
variable length and predict the mean of its first feature over the valid steps.
Padding past each row's length must not matter, and it does not: dynamic_rnn
stops updating a row's state at its length.

Run:  python examples/tf1_projected_lstm.py [--steps N]
"""
import argparse

import numpy as np

import tinygraph as tg
from tinygraph.layers import rnn_cell


def make_data(rng, n, max_time, depth):
    lengths = rng.integers(3, max_time + 1, size=n).astype("int32")
    x = rng.normal(0.0, 1.0, (n, max_time, depth)).astype("float32")
    valid = np.arange(max_time)[None, :] < lengths[:, None]
    x[~valid] = rng.normal(0.0, 5.0, x[~valid].shape)      # junk padding: must be ignored
    target = (x[..., 0] * valid).sum(1) / lengths
    return x, lengths, target[:, None].astype("float32")


def build(max_time, depth, num_units=16, num_proj=4):
    x = tg.placeholder((None, max_time, depth), name="x")
    lengths = tg.placeholder((None,), "int32", name="lengths")
    y = tg.placeholder((None, 1), name="y")
    cell = rnn_cell.LSTMCell(num_units, use_peepholes=True, cell_clip=3.0, num_proj=num_proj,
                             proj_clip=5.0, initializer="glorot_uniform")
    outputs, state = rnn_cell.dynamic_rnn(cell, x, sequence_length=lengths, dtype="float32")
    # state.h is the projected output at each row's last valid step.
    with tg.variable_scope("readout"):
        w = tg.get_variable("kernel", (num_proj, 1))
        b = tg.get_variable("bias", (1,), initializer="zeros")
    prediction = state.h @ w + b
    loss = tg.losses.mean_squared_error(y, prediction)
    return (x, lengths, y), cell, outputs, loss


def main(steps=60, seed=0, log_every=10):
    rng = np.random.default_rng(seed)
    tg.initializers.reseed(seed)
    max_time, depth = 10, 3
    xv, lv, yv = make_data(rng, 64, max_time, depth)
    (x, lengths, y), cell, outputs, loss = build(max_time, depth)
    print("TF1 weights:", ", ".join(f"{w.name} {w.shape}" for w in cell.weights))
    train = tg.optimizers.Adam(learning_rate=0.02).minimize(loss)
    sess = tg.Session()
    feed = {x: xv, lengths: lv, y: yv}
    losses = []
    for step in range(steps + 1):
        if step == steps:
            value = sess.run(loss, feed)
        else:
            _, value = sess.run([train, loss], feed)
        losses.append(float(value))
        if step % log_every == 0 or step == steps:
            print(f"step {step:3d}  loss {value:.5f}")
    out = sess.run(outputs, feed)
    assert not out[0, lv[0]:].any(), "outputs past a row's length are zeros"
    print(f"loss went from {losses[0]:.5f} to {losses[-1]:.5f}")
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    main(steps=parser.parse_args().steps)

"""A tour of an unrolled LSTM's graph, notebook style (each ``# %%`` is a cell).

    python examples/unrolled_graph_tour.py                 # writes ./unrolled_graph_tour/
    python examples/unrolled_graph_tour.py --T 3 --out /tmp/tour

Build a 4-step unrolled LSTM regressor, then draw it as built, after the passes
(the cells fused into one ``lstm_sequence`` op), its backward graph before and after
fusion, the loop version, and a gradient heat map. Open the SVGs in a browser.
Without Graphviz's ``dot`` the ``.dot`` files are still written.
"""
import argparse
import collections
import os

import numpy as np

import tinygraph as tg
from tinygraph import layers

p = argparse.ArgumentParser(description="draw an unrolled LSTM, fused and not, and its gradients")
p.add_argument("--T", type=int, default=4, help="time steps (keep it small: one cluster each)")
p.add_argument("--out", default="unrolled_graph_tour")
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)


def draw(fetches, name, **kw):
    """Render to <out>/<name>.svg; without `dot`, say where the .dot file is."""
    path = os.path.join(args.out, name + ".svg")
    try:
        print("  wrote", tg.viz.render(fetches, path, keep_dot=True, **kw))
    except RuntimeError as e:
        print("  wrote", path[:-4] + ".dot", "(no SVG:", str(e).split(";")[0] + ")")


# %% 1. The model: LSTM(8, unroll=True) -> Dense(1), mean squared error.
# unroll=True builds one set of nodes per time step, in name scopes lstm/step_<t>:
# the picture groups each step into a cluster.
tg.initializers.reseed(0)
T = args.T
x = tg.placeholder((None, T, 2), name="x")
y = tg.placeholder((None, 1), name="y")
lstm = layers.LSTM(8, unroll=True, name="lstm")
dense = layers.Dense(1, name="dense")
loss = tg.losses.mean_squared_error(y, dense(lstm(x)))

ops = collections.Counter(d["op"] for _, d in tg.to_networkx(loss).nodes(data=True))
print(f"1. the unrolled graph: {sum(ops.values())} nodes; most common ops:",
      ", ".join(f"{op} x{n}" for op, n in ops.most_common(6)))
draw(loss, "1_unrolled", title=f"LSTM unrolled over T={T} steps, as built")

# %% 2. After the passes. tg.optimize runs the Session's pipeline: each step's gate
# math becomes one lstm_cell op, and the chain of cells one lstm_sequence op.
fused = tg.optimize(loss)
ops = collections.Counter(d["op"] for _, d in tg.to_networkx(fused).nodes(data=True))
print(f"2. after the passes: {sum(ops.values())} nodes; fused ops:",
      {op: n for op, n in ops.items() if op.startswith("lstm_")})
draw(fused, "2_fused", title="after the passes: one lstm_sequence op")

# %% 3. The backward graph. tg.gradients builds the gradient as ordinary graph nodes;
# each remembers the forward node it came from (node.grad_of), so the picture files
# it under gradients/<forward scope>/step_<t> and draws it in red, one cluster per
# step from the last back to the first. The forward values each step reads are the
# small dashed boxes beside their use; the forward graph is collapsed into boxes.
grads = tg.gradients(loss, lstm.trainable_weights)
draw(grads, "3_gradients", grads=False, collapse=["lstm", "dense"],
     title="dL/d(kernel, recurrent_kernel, bias): the backward steps, last to first")
draw(tg.optimize(grads), "3_gradients_fused",
     title="the same gradients after fusion: lstm_sequence_grad")

# %% 4. What a Session runs. explain() lists the kernels and which fused ops were used.
with tg.Session() as sess:
    plan = sess.explain(grads)
print("4.", next(line for line in str(plan).splitlines() if line.startswith("fused kernels")))

# %% 5. The same LSTM as a loop op (unroll=False): one node, whatever T is; its
# body (one step) can be opened.
tg.reset_default_graph()
x2 = tg.placeholder((None, T, 2), name="x")
loop_lstm = layers.LSTM(8, name="lstm")
loop_loss = tg.reduce_mean(tg.square(loop_lstm(x2)))
print("5. the loop version:")
draw(loop_loss, "5_loop", expand=["scan"], title="unroll=False: the loop op, its body opened")

# %% 6. Where does the gradient go? gradflow colours every node by mean |dL/dx|.
tg.reset_default_graph()
tg.initializers.reseed(0)
x3 = tg.placeholder((8, T, 2), name="x")
lstm3 = layers.LSTM(8, unroll=True, name="lstm")
loss3 = tg.reduce_mean(tg.square(lstm3(x3)))
report = tg.gradflow.analyze(loss3, lstm3, {x3: np.random.default_rng(0).normal(size=(8, T, 2))})
print("6. gradient flow, per step:\n" + report.table())
draw(report.to_dot(), "6_heatmap")

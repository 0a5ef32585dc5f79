"""SPEC 9, pictures a person can read: the rendered SVG (and the DOT text) of an
unrolled LSTM, its loop, its backward graph and big graphs are parsed back and
checked for time order, names, scopes, references, budget and legend."""
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import layers
from tinygraph.tools.viz import HEAT, STYLES

from test_viz import graph_nodes, parse

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
_SVG = "{http://www.w3.org/2000/svg}"


def lstm_model(T=4, units=4, unroll=True):
    tg.initializers.reseed(0)
    x = tg.placeholder((None, T, 2), name="x")
    y = tg.placeholder((None, 1), name="y")
    lstm = layers.LSTM(units, unroll=unroll, name="lstm")
    loss = tg.losses.mean_squared_error(y, layers.Dense(1, name="dense")(lstm(x)))
    return x, lstm, loss


def cluster_spans(svg_text):
    """cluster name -> (min x, max x) of its outline in the rendered SVG."""
    spans = {}
    for g in ET.fromstring(svg_text).iter(f"{_SVG}g"):
        if g.get("class") != "cluster":
            continue
        name = g.find(f"{_SVG}title").text
        shape = g.find(f"{_SVG}path")
        shape = shape if shape is not None else g.find(f"{_SVG}polygon")
        coords = shape.get("d") or shape.get("points")
        xs = [float(v) for v in re.findall(r"(-?[\d.]+),-?[\d.]+", coords)]
        spans[name] = (min(xs), max(xs))
    return spans


def html_label(dot, key):
    """The HTML-like label of node ``key`` in the DOT text."""
    return re.search(re.escape(key) + r" \[label=<(.*?)> ", dot.source).group(1)


def steps_of(spans, prefix):
    found = {}
    for name, span in spans.items():
        m = re.fullmatch(re.escape(prefix) + r"step_(\d+)", name)
        if m:
            found[int(m.group(1))] = span
    return [found[t] for t in sorted(found)]


@needs_dot
def test_unrolled_steps_follow_one_another_along_the_layout_without_overlap():
    _, _, loss = lstm_model(T=5)
    spans = cluster_spans(tg.viz.to_dot(loss).pipe(format="svg").decode())
    steps = steps_of(spans, "cluster_lstm/")
    assert len(steps) == 5
    for (_, right), (left, _) in zip(steps, steps[1:]):
        assert right < left                 # step_t ends before step_t+1 starts


@needs_dot
def test_backward_steps_mirror_the_forward_in_reverse_time_order():
    _, lstm, loss = lstm_model(T=4)
    grads = tg.gradients(loss, lstm.trainable_weights)
    dot = tg.viz.to_dot([loss, grads])
    spans = cluster_spans(dot.pipe(format="svg").decode())
    forward = steps_of(spans, "cluster_lstm/")
    backward = steps_of(spans, "cluster_gradients/lstm/")
    assert len(forward) == len(backward) == 4
    for (left, end), (start, right) in zip(backward, backward[1:]):
        assert right < end and start < left       # gradient step_t+1 is drawn before step_t
        assert right - left < (right - start) / 4    # at most a sliver in common
    nodes, edges, _ = parse(dot)
    grad_ids = {k for k, v in nodes.items() if v.get("fillcolor") == STYLES["gradient"]["fillcolor"]}
    fwd_ids = {k for k, v in graph_nodes(nodes).items() if k not in grad_ids
               and v.get("style") != STYLES["reference"]["style"]
               and v.get("shape") not in ("note", "point", "plaintext")}
    crossing = [(s, d) for s, d, a in edges if s in fwd_ids and d in grad_ids
                and a.get("style") != "invis"]
    assert not crossing                     # forward values are references, not edges
    refs = [v for v in nodes.values() if v.get("style") == STYLES["reference"]["style"]]
    assert len(refs) > 20 and any(v["label"].startswith("sigmoid") for v in refs)
    assert "legend_reference" in nodes


def test_gates_are_named_on_the_split_edges():
    _, _, loss = lstm_model(T=3)
    dot = tg.viz.to_dot(loss)
    nodes, edges, _ = parse(dot)
    splits = [k for k, v in nodes.items() if v["label"].startswith("split")]
    assert len(splits) == 3
    for s in splits:
        out = {a["label"]: nodes[d]["label"].split("\\n")[0] for src, d, a in edges
               if src == s and "label" in a}
        assert out == {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}
    assert "LSTM gate" in html_label(dot, "legend_edges")


def test_gates_follow_the_math_not_the_column_order():
    # TF1's cell splits i, j (the candidate), f, o: the names still say which is which
    x = tg.placeholder((2, 3, 2), name="x")
    cell = layers.rnn_cell.LSTMCell(4, name="tf1")
    outputs, _ = layers.rnn_cell.static_rnn(cell, tg.unstack(x, axis=1), dtype="float32") \
        if hasattr(layers.rnn_cell, "static_rnn") else (None, None)
    if outputs is None:
        pytest.skip("no static_rnn in layers.rnn_cell")
    nodes, edges, _ = parse(tg.viz.to_dot(outputs[-1]))
    split = next(k for k, v in nodes.items() if v["label"].startswith("split"))
    by_index = {a["label"]: d for s, d, a in edges if s == split and "label" in a}
    assert set(by_index) == {"i", "f", "g", "o"}
    assert nodes[by_index["g"]]["label"].startswith("tanh")


def test_loop_body_inputs_carry_their_names():
    _, _, loss = lstm_model(T=4, unroll=False)
    nodes, _, clusters = parse(tg.viz.to_dot(loss, expand=["scan"]))
    loop = next(c for c in clusters if c.startswith("cluster_n") and c != "cluster_legend")
    inputs = {v["label"].split("\\n")[0] for v in nodes.values()
              if loop in v["clusters"] and v["shape"] == STYLES["placeholder"]["shape"]}
    assert inputs == {"h", "c", "x_t", "kernel", "recurrent_kernel", "bias"}
    assert not [v for v in nodes.values() if v["label"].startswith("arg")]


def test_shared_nodes_are_drawn_where_their_readers_meet():
    x = tg.placeholder((None, 3, 2), name="x")
    first, second = layers.LSTM(4, name="first"), layers.LSTM(4, name="second")
    out = first(x) + second(x)
    nodes, edges, _ = parse(tg.viz.to_dot(out))
    in_first = {k for k, v in nodes.items() if v["clusters"][:1] == ["cluster_first"]}
    in_second = {k for k, v in nodes.items() if v["clusters"][:1] == ["cluster_second"]}
    read_by_second = {s for s, d, _ in edges if d in in_second}
    assert read_by_second  # the zero state's shape and fill are built once, shared
    assert not read_by_second & in_first    # the first layer's box holds none of them


def test_fused_gradients_are_never_filed_under_a_scope_that_is_not_drawn():
    _, lstm, loss = lstm_model(T=4)
    fused = tg.optimize(tg.gradients(loss, lstm.trainable_weights))
    nodes, _, clusters = parse(tg.viz.to_dot(fused))
    drawn = {c[len("cluster_"):] for c in clusters if not c.startswith("cluster_gradients")}
    for c in clusters:
        if c.startswith("cluster_gradients/"):
            scope = c[len("cluster_gradients/"):]
            assert scope in drawn, c
    assert not [c for c in clusters if "lstm_cell" in c and "step_" in c]


def test_no_op_sum_like_nodes_are_not_drawn():
    _, lstm, loss = lstm_model(T=3)
    grads = tg.gradients(loss, lstm.trainable_weights)
    no_ops = [n for n in tg.ir.topo_nodes(grads) if n.op.name == "sum_like"
              and n.inputs[0].shape == n.outputs[0].shape]
    assert no_ops
    nodes, _, _ = parse(tg.viz.to_dot(grads))
    assert not [n for n in no_ops if f"n{n.id}" in nodes]
    assert not [v for v in nodes.values() if v["label"].startswith("sum_like")]


def test_the_size_budget_elides_the_middle_steps_and_can_be_lifted():
    _, _, loss = lstm_model(T=20)
    nodes, _, clusters = parse(tg.viz.to_dot(loss))
    steps = sorted(c for c in clusters if re.fullmatch(r"cluster_lstm/step_\d+", c))
    assert len(steps) == 6
    box = nodes["steps lstm/step_*"]
    assert box["label"].startswith("… 14 steps …\\nstep_3 – step_16")
    assert "max_steps=None" in box["tooltip"]
    every = parse(tg.viz.to_dot(loss, max_steps=None))[2]
    assert len([c for c in every if re.fullmatch(r"cluster_lstm/step_\d+", c)]) == 20


@needs_dot
def test_a_default_picture_of_twenty_steps_stays_small():
    _, _, loss = lstm_model(T=20, units=8)
    svg = tg.viz.to_dot(loss).pipe(format="svg").decode()
    width = float(re.search(r'width="([\d.]+)pt"', svg).group(1))
    assert width < 8000                     # it was 14997 pt with every step drawn
    spans = steps_of(cluster_spans(svg), "cluster_lstm/")
    assert len(spans) == 6 and all(a[1] < b[0] for a, b in zip(spans, spans[1:]))


def test_heat_map_has_a_colour_bar_with_its_units():
    x = tg.placeholder((3,), name="x")
    small, big = x * 1e-3, x * 10.0
    values = tg.Session().run([small, big], {x: np.ones(3, np.float32)})
    dot = tg.viz.to_dot([small, big], values=values, value_name="|dL/dx|")
    bar = html_label(dot, "legend_colour_bar")
    assert "|dL/dx|, log scale" in bar
    assert all(colour in bar for colour in HEAT)
    assert bar.index(HEAT[0]) < bar.index(HEAT[-1])
    assert "0.001" in bar and "10" in bar


def test_the_legend_explains_every_node_and_edge_style_drawn():
    x = tg.placeholder((2, 3), name="x")
    w = tg.Variable(np.ones((3, 3), np.float32), name="w")
    y = tg.reduce_sum(tg.tanh(tg.matmul(x, w)) * 2.0)
    gw, = tg.gradients(y, [w])
    dot = tg.viz.to_dot([y, gw], grads="all")
    nodes, edges, _ = parse(dot)
    kinds = {"placeholder", "variable", "constant", "op", "gradient", "reference"}
    assert {f"legend_{k}" for k in kinds} <= set(nodes)
    text = html_label(dot, "legend_edges")
    assert "dashed red arrow" in text and "solid arrow" in text
    assert any(a.get("style") == "dashed" for _, _, a in edges)

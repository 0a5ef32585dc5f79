"""Pictures of an unrolled layers.Bidirectional(LSTM): the two directions are named
groups inside the wrapper's, each with its steps in processing order along the
layout; their weights are named after the direction; the backward direction's input
is the reversed sequence and its output is reversed back before the merge. The DOT
text (and, with Graphviz, the rendered SVG) is parsed back."""
import shutil

import pytest

import tinygraph as tg
from tinygraph import layers

from test_pictures_layout import cluster_spans, steps_of
from test_viz import graph_nodes, nid, parse

T = 3


def picture():
    x = tg.placeholder((2, T, 2), name="x")
    bi = layers.Bidirectional(layers.LSTM(2, return_sequences=True, unroll=True), name="bi")
    y = bi(x)
    return bi, y, tg.viz.to_dot(y)


def test_directions_are_named_groups_with_their_steps():
    bi, y, dot = picture()
    nodes, edges, clusters = parse(dot)
    for direction in ("forward_lstm", "backward_lstm"):
        group = f"cluster_bi/{direction}"
        assert clusters[group] == ["cluster_bi"]
        for t in range(T):
            assert clusters[f"{group}/step_{t}"] == ["cluster_bi", group]
        splits = [k for k, v in graph_nodes(nodes).items() if v["label"].startswith("split")
                  and v["clusters"][:2] == ["cluster_bi", group]]
        assert len(splits) == T                              # one LSTM step per step box
    # the weights, named after their direction (not lstm_cell_1 / lstm_cell_2)
    for v in bi.weights:
        direction = v.name.split("/")[0]
        assert direction in ("forward_lstm_cell", "backward_lstm_cell")
        assert nodes[nid(v)]["clusters"] == [f"cluster_{direction}"]


def test_backward_reads_the_reversed_sequence_and_is_reversed_back_before_the_merge():
    bi, y, dot = picture()
    nodes, edges, _ = parse(dot)
    merge = y.node
    assert nodes[nid(merge)]["label"].startswith("concat")
    forward_out, backward_out = (t.node for t in merge.inputs)
    assert nodes[nid(backward_out)]["label"].startswith("reverse")   # back to input order
    assert nodes[nid(backward_out)]["clusters"] == ["cluster_bi"]
    assert nodes[nid(forward_out)]["clusters"] == ["cluster_bi", "cluster_bi/forward_lstm"]
    handles = [k for k, v in nodes.items() if v["label"].startswith("inputs")]
    assert len(handles) == 2
    back_inputs = next(k for k in handles
                       if nodes[k]["clusters"] == ["cluster_bi", "cluster_bi/backward_lstm"])
    feeding = [s for s, d, a in edges if d == back_inputs and a.get("style") != "invis"]
    assert [nodes[s]["label"].split("\\n")[0] for s in feeding] == ["reverse"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_each_direction_draws_its_steps_one_after_another():
    _, _, dot = picture()
    spans = cluster_spans(dot.pipe(format="svg").decode())
    for direction in ("forward_lstm", "backward_lstm"):
        steps = steps_of(spans, f"cluster_bi/{direction}/")
        assert len(steps) == T
        for (_, right), (left, _) in zip(steps, steps[1:]):
            assert right < left                 # step_t ends before step_t+1 starts
    fwd, bwd = spans["cluster_bi/forward_lstm"], spans["cluster_bi/backward_lstm"]
    assert fwd[0] < bwd[1] and bwd[0] < fwd[1]          # side by side in time, not in a row

"""Pictures of a GRU: the gates z, r, h are named on the edges of the step's splits
(the input projection's three, the recurrent projection's three, or two with
reset_after=False), read from the graph's shape as ops/gru_step.py builds it."""
import pytest
from test_viz import parse

import tinygraph as tg
from tinygraph import layers
from tinygraph.ir.graph import topo_nodes
from tinygraph.tools.viz.names import gate_names


def gru_loss(reset_after, activation="tanh", T=3):
    x = tg.placeholder((2, T, 2), name="x")
    gru = layers.GRU(4, unroll=True, reset_after=reset_after, activation=activation,
                     name="gru")
    return tg.reduce_sum(gru(x))


def names_by_split(loss):
    """[(split node, gate names by output index)] in build order."""
    nodes = topo_nodes([loss])
    consumers = {}
    for n in nodes:
        for t in n.inputs:
            consumers.setdefault(t.node.id, []).append(n)
    return [(n, gate_names(n, consumers)) for n in nodes if n.op.name == "split"]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])     # sigmoid: all alike
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_follow_the_math(reset_after, activation):
    # z is what 1 - z subtracts, r multiplies the candidate's recurrent term, h is the
    # candidate: in Keras' column order, per step the input split (x_z, x_r, x_h) and
    # the recurrent one ((r_z, r_r, r_h), or (r_z, r_r) with reset_after=False)
    found = names_by_split(gru_loss(reset_after, activation))
    recurrent = ("z", "r", "h") if reset_after else ("z", "r")
    assert sorted(names for _, names in found) == sorted([("z", "r", "h"), recurrent] * 3)


def test_gru_picture_names_the_gates_on_the_split_edges():
    nodes, edges, _ = parse(tg.viz.to_dot(gru_loss(True)))
    splits = [k for k, v in nodes.items() if v["label"].startswith("split")]
    assert len(splits) == 6
    for s in splits:
        assert {a["label"] for src, _, a in edges if src == s and "label" in a} == \
            {"z", "r", "h"}


def test_a_three_way_split_that_is_no_gru_gets_no_names():
    x = tg.placeholder((2, 6), name="x")
    a, b, c = tg.split(x, 3, axis=-1)
    loss = tg.reduce_sum(tg.sigmoid(a) * tg.tanh(b) + (1.0 - tg.sigmoid(c)))
    assert [names for _, names in names_by_split(loss)] == [None]

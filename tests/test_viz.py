"""Pictures (tg.viz) and the networkx export: the DOT text is parsed back and its
structure checked (clusters, styles, links, expansion, collapsing)."""
import re
import shutil

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.ir.function import Function
from tinygraph.ir.graph import Op, apply1
from tinygraph.tools.viz import HEAT, STYLES

HAS_DOT = shutil.which("dot") is not None


# --------------------------------------------------------------------------- helpers

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_ID = r'("(?:[^"\\]|\\.)*"|[^\s"\[\]{}]+)'


def _unquote(s):
    return s[1:-1].replace('\\"', '"') if s.startswith('"') else s


def parse(dot):
    """(nodes, edges, clusters) of a Digraph. nodes: id -> dict(attrs, clusters=[...]);
    edges: list of (src, dst, attrs); clusters: id -> enclosing clusters."""
    nodes, edges, clusters, stack = {}, [], {}, []
    for line in dot.source.splitlines():
        line = line.strip()
        m = re.fullmatch(r"subgraph " + _ID + r" \{", line)
        if m:
            name = _unquote(m.group(1))
            clusters[name] = list(stack)
            stack.append(name)
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        m = re.fullmatch(_ID + r" -> " + _ID + r"(?: \[(.*)\])?", line)
        if m:
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(3) or "")}
            edges.append((_unquote(m.group(1)), _unquote(m.group(2)), attrs))
            continue
        m = re.fullmatch(_ID + r" \[(.*)\]", line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(2))}
            attrs["clusters"] = list(stack)
            nodes[_unquote(m.group(1))] = attrs
    return nodes, edges, clusters


def graph_nodes(nodes):
    """Drawn graph boxes, without the legend."""
    return {k: v for k, v in nodes.items() if not k.startswith("legend_")}


def nid(t):
    return f"n{(t.node if isinstance(t, tg.Tensor) else t).id}"


def unrolled(T=4, B=2, D=3, H=4):
    """A hand-unrolled tanh recurrence under rnn/step_<t>; returns x, W, U, [h_t], loss."""
    x = tg.placeholder((B, T, D), name="x")
    hs = []
    with tg.name_scope("rnn"):
        W = tg.Variable(np.full((D, H), 0.1, np.float32), name="kernel")
        U = tg.Variable(np.full((H, H), 0.1, np.float32), name="recurrent_kernel")
        h = tg.zeros((B, H))
        for t in range(T):
            with tg.name_scope(f"step_{t}"):
                h = tg.tanh(tg.matmul(x[:, t, :], W) + tg.matmul(h, U))
                hs.append(h)
    return x, W, U, hs, tg.reduce_sum(h)


class FakeCell(Op):
    """A fused op for the pictures: sigmoid(a) * tanh(b), with that as its body."""
    name = "fake_cell"
    fused = True

    def infer(self, a, b):
        return a.shape, a.dtype


def fake_cell(a, b):
    pa = tg.placeholder(a.shape, name="body_a")
    pb = tg.placeholder(b.shape, name="body_b")
    body = Function([pa, pb], [tg.sigmoid(pa) * tg.tanh(pb)], name="fake_body")
    return apply1(FakeCell(body=body), [a, b])


# --------------------------------------------------------------------------- structure

def test_unrolled_graph_has_one_cluster_per_step_inside_the_layer():
    x, W, U, hs, loss = unrolled(T=4)
    nodes, edges, clusters = parse(tg.viz.to_dot(loss))
    steps = {f"cluster_rnn/step_{t}" for t in range(4)}
    assert steps <= set(clusters)
    for c in steps:
        assert clusters[c] == ["cluster_rnn"]
    for t, h in enumerate(hs):
        box = nodes[nid(h)]
        assert box["clusters"] == ["cluster_rnn", f"cluster_rnn/step_{t}"]
        assert box["label"] == "tanh\\nf32[2,4]"
    assert nodes[nid(W)]["clusters"] == ["cluster_rnn"]
    with tg.variable_scope("dense"):    # store variables are built at top level
        v = tg.get_variable("kernel", (4, 1))
    assert v.node.scope == ""
    stored, _, _ = parse(tg.viz.to_dot(tg.matmul(hs[-1], v)))
    assert stored[nid(v)]["clusters"] == ["cluster_dense"]
    assert nodes[nid(x)]["clusters"] == []
    # the recurrence: h_0 feeds the matmul of step 1
    assert (nid(hs[0]), nid(hs[1].node.inputs[0].node.inputs[1]), {}) in edges
    flat, _, flat_clusters = parse(tg.viz.to_dot(loss, group_scopes=False, legend=False))
    assert not flat_clusters and set(flat) == set(graph_nodes(nodes))


def test_placeholders_variables_and_constants_are_styled_apart():
    x, W, U, hs, loss = unrolled(T=2)
    nodes, _, _ = parse(tg.viz.to_dot(loss, rankdir="TB"))
    const = next(k for k, v in nodes.items() if v["label"].startswith("const"))
    looks = {kind: (nodes[key]["shape"], nodes[key]["fillcolor"]) for kind, key in
             [("placeholder", nid(x)), ("variable", nid(W)), ("constant", const),
              ("op", nid(hs[0]))]}
    assert len(set(looks.values())) == 4
    ph = STYLES["placeholder"]
    assert looks["placeholder"] == (ph["shape"], ph["fillcolor"])
    assert looks["variable"][0] == "cylinder"
    assert nodes[nid(x)]["label"] == "x\\nf32[2,2,3]"
    assert nodes[nid(W)]["label"] == "kernel\\nf32[3,4]"
    assert nodes[nid(loss)]["peripheries"] == "2"          # the fetch is marked
    assert {"legend_placeholder", "legend_variable", "legend_constant", "legend_op"} <= set(nodes)
    plain, _, _ = parse(tg.viz.to_dot(loss, show_shapes=False))
    assert plain[nid(hs[0])]["label"] == "tanh"


def test_gradient_nodes_are_coloured_grouped_and_linked_to_their_forward_node():
    x, W, U, hs, loss = unrolled(T=3)
    gW, gU = tg.gradients(loss, [W, U])
    dot = tg.viz.to_dot([loss, gW, gU])
    nodes, edges, _ = parse(dot)
    grad_nodes = [n for n in tg.ir.topo_nodes([gW, gU]) if n.grad_of is not None]
    assert grad_nodes
    for n in grad_nodes:
        if n.op.name == "constant" or n.op.name == "sum_like" and \
                n.inputs[0].shape == n.outputs[0].shape:
            assert nid(n) not in nodes     # drawn at each use / a no-op, not drawn
            continue
        box = nodes[nid(n)]
        assert box["fillcolor"] == STYLES["gradient"]["fillcolor"]
        assert box["clusters"][0] == "cluster_gradients"
    fwd = [n for n in tg.ir.topo_nodes([loss]) if n.grad_of is None and n.op.name != "constant"]
    assert all(nodes[nid(n)]["fillcolor"] != STYLES["gradient"]["fillcolor"] for n in fwd)
    links = [(s, d) for s, d, a in edges if a.get("style") == "dashed"]
    by_id = {nid(n): n for n in grad_nodes}
    for s, d in links:            # every link runs from a gradient node to its forward node
        assert d == nid(by_id[s].grad_of)
    # SPEC 9: a forward value the backward pass reads is a small reference beside its
    # use, not an edge across the picture
    assert not [e for e in edges if e[0] == nid(hs[0]) and e[1] in by_id]
    refs = [k for k, v in nodes.items() if k.startswith(tuple(f"{d}_r" for d in by_id))
            and v["label"].startswith("tanh")]
    assert refs and all(nodes[k]["style"] == STYLES["reference"]["style"] for k in refs)
    for t, h in enumerate(hs):    # each tanh step has its gradient linked to it
        assert any(d == nid(h) for _, d in links), t
        assert any(c.startswith(f"cluster_gradients/rnn/step_{t}")
                   for c in nodes[next(s for s, d in links if d == nid(h))]["clusters"])
    every = [e for e in parse(tg.viz.to_dot([loss, gW], grads="all"))[1]
             if e[2].get("style") == "dashed"]
    assert len(every) > len([1 for s, d in links if s in map(nid, tg.ir.topo_nodes([gW]))])
    unlinked, unlinked_edges, _ = parse(tg.viz.to_dot([loss, gW, gU], grads=False))
    assert not [e for e in unlinked_edges if e[2].get("style") == "dashed"]
    last = [n for n in grad_nodes if nid(n) in nodes][-1]
    assert unlinked[nid(last)]["fillcolor"] == nodes[nid(last)]["fillcolor"]


def test_fused_op_stands_out_and_expands_into_its_body():
    a = tg.placeholder((2, 3), name="a")
    b = tg.placeholder((2, 3), name="b")
    out = fake_cell(a, b)
    y = tg.exp(out)
    nodes, edges, clusters = parse(tg.viz.to_dot(y))
    box = nodes[nid(out)]
    assert "bold" in box["style"] and box["fillcolor"] == STYLES["fused"]["fillcolor"]
    assert box["fillcolor"] != nodes[nid(y)]["fillcolor"]
    assert not any(v["label"].startswith("sigmoid") for v in nodes.values())
    assert (nid(a), nid(out), {}) in edges
    for expand in (["fake_cell"], [out.node.name], True):
        nodes, edges, clusters = parse(tg.viz.to_dot(y, expand=expand))
        cluster = f"cluster_{nid(out)}"
        assert cluster in clusters
        inside = {k for k, v in nodes.items() if cluster in v["clusters"]}
        labels = sorted(nodes[k]["label"].split("\\n")[0] for k in inside)
        # SPEC 9: a body's inputs are named after what feeds them, never "arg 0"
        assert labels == ["a", "b", "fake_cell", "multiply", "sigmoid", "tanh"]
        arg0 = next(k for k in inside if nodes[k]["label"].startswith("a\\n"))
        mul = next(k for k in inside if nodes[k]["label"].startswith("multiply"))
        assert (nid(a), arg0, {}) in edges and (mul, nid(out), {}) in edges
        assert (nid(out), nid(y), {}) in edges and (nid(a), nid(out), {}) not in edges
    labelled = parse(tg.viz.to_dot(y, edge_labels=True))[1]
    assert (nid(a), nid(out), {"label": "f32[2,3]", "fontsize": "8"}) in labelled
    with pytest.warns(UserWarning, match="fake_cel"):
        tg.viz.to_dot(y, expand=["fake_cel"])


@pytest.mark.skipif(not hasattr(tg, "scan"), reason="tg.scan is not built yet")
def test_loop_is_one_box_that_opens_into_its_body():
    xs = tg.placeholder((5, 2, 3), name="xs")
    W = tg.Variable(np.full((3, 3), 0.1, np.float32), name="W")
    h, ys = tg.scan(lambda h, x: (lambda n: (n, n))(tg.tanh(tg.matmul(h, W) + x)), xs,
                    tg.zeros((2, 3)))
    loss = tg.reduce_sum(ys)
    loop = loss.node.inputs[0].node
    assert loop.op.name == "scan"
    nodes, edges, clusters = parse(tg.viz.to_dot(loss))
    assert nodes[nid(loop)]["shape"] == STYLES["loop"]["shape"]
    assert not any(v["label"].startswith(("tanh", "matmul")) for v in nodes.values())
    assert (nid(xs), nid(loop), {}) in edges and (nid(W), nid(loop), {}) in edges
    nodes, edges, clusters = parse(tg.viz.to_dot(loss, expand=["scan"]))
    cluster = f"cluster_{nid(loop)}"
    inside = {k: v for k, v in nodes.items() if cluster in v["clusters"]}
    heads = {v["label"].split("\\n")[0] for v in inside.values()}
    assert {"tanh", "matmul", "add", "carry 0", "x_t", "W", loop.op.label()} <= heads
    args = {v["label"].split("\\n")[0]: k for k, v in inside.items()}
    assert (nid(xs), args["x_t"], {}) in edges and (nid(W), args["W"], {}) in edges
    assert (nid(loop), nid(loss), {}) in edges


def test_collapse_draws_a_scope_as_one_box_with_merged_edges():
    x, W, U, hs, loss = unrolled(T=4)
    full = graph_nodes(parse(tg.viz.to_dot(loss))[0])
    nodes, edges, clusters = parse(tg.viz.to_dot(loss, collapse=["rnn"]))
    nodes = graph_nodes(nodes)
    box = "collapsed rnn"
    n_rnn = sum(1 for n in tg.ir.topo_nodes([loss]) if n.scope.startswith("rnn"))
    assert nodes[box]["label"] == f"rnn\\n{n_rnn} nodes" and nodes[box]["shape"] == "folder"
    drawn = {k for k in full if "_r" not in k}          # references are drawn at each use
    assert len(drawn) == len(full) - sum("_r" in k for k in full)
    assert len(nodes) == len(drawn) - (n_rnn - 1) + 1    # the zero state is a reference
    assert not [c for c in clusters if c.startswith("cluster_rnn")]
    assert [e for e in edges if e[:2] == (nid(x), box)] == [(nid(x), box, {})]
    assert (box, nid(loss), {}) in edges
    inner, _, inner_clusters = parse(tg.viz.to_dot(loss, collapse="rnn/step_2"))
    assert "collapsed rnn/step_2" in inner and "cluster_rnn/step_2" not in inner_clusters
    assert inner["collapsed rnn/step_2"]["clusters"] == ["cluster_rnn"]


def test_max_steps_keeps_the_first_and_last_steps():
    x, W, U, hs, loss = unrolled(T=8)
    full = graph_nodes(parse(tg.viz.to_dot(loss))[0])
    nodes, edges, clusters = parse(tg.viz.to_dot(loss, max_steps=2))
    nodes = graph_nodes(nodes)
    steps = sorted(c for c in clusters if "step_" in c)
    assert steps == ["cluster_rnn/step_0", "cluster_rnn/step_7"]
    box = "steps rnn/step_*"
    assert nodes[box]["label"] == "… 6 steps …\\nstep_1 – step_6\\n30 nodes"  # 5 nodes a step
    assert len(nodes) < len(full) - 20
    assert (nid(hs[0]), box, {}) in edges                # h_0 -> the elided middle
    assert any(s == box and d in {nid(n) for n in tg.ir.topo_nodes([hs[7]])
                                  if n.scope == "rnn/step_7"} for s, d, _ in edges)
    three = [c for c in parse(tg.viz.to_dot(loss, max_steps=3))[2] if "step_" in c]
    assert sorted(three) == ["cluster_rnn/step_0", "cluster_rnn/step_1", "cluster_rnn/step_7"]
    with pytest.raises(ValueError, match="max_steps"):
        tg.viz.to_dot(loss, max_steps=0)


def test_max_nodes_collapses_the_deepest_scopes_and_says_so():
    x, W, U, hs, loss = unrolled(T=6)
    dot = tg.viz.to_dot(loss, max_nodes=15, title="big")
    nodes = graph_nodes(parse(dot)[0])
    assert len(nodes) <= 15
    assert nodes["collapsed rnn/step_3"]["clusters"] == ["cluster_rnn"]
    assert "max_nodes=15" in dot.graph_attr["label"] and dot.graph_attr["label"].startswith("big")
    tiny = tg.viz.to_dot(loss, max_nodes=2)      # x, the rnn box and the loss remain
    assert "collapsed rnn" in parse(tiny)[0] and "remain" in tiny.graph_attr["label"]
    untouched = tg.viz.to_dot(loss, max_nodes=1000)
    assert "label" not in untouched.graph_attr


def test_values_colour_nodes_by_magnitude():
    x = tg.placeholder((3,), name="x")
    small = x * 1e-3
    big = x * 10.0
    fetches = [small, big]
    feed = {x: np.ones(3, np.float32)}
    result = tg.Session().run(fetches, feed)
    for values in (result, {small: result[0], big: result[1]}, {big.name: result[1],
                                                                small.name: result[0]}):
        nodes, _, _ = parse(tg.viz.to_dot(fetches, values=values))
        assert nodes[nid(small)]["fillcolor"] == HEAT[0]
        assert nodes[nid(big)]["fillcolor"] == HEAT[-1]
        assert nodes[nid(small)]["label"].endswith("|x| 0.001")
        assert "|x|" not in nodes[nid(x)]["label"]
        assert nodes["legend_high"]["fillcolor"] == HEAT[-1]
    named, _, _ = parse(tg.viz.to_dot(fetches, values=result, value_name="|dL/dh|"))
    assert named[nid(big)]["label"].endswith("|dL/dh| 10")
    with pytest.raises(ValueError, match="values"):
        tg.viz.to_dot(fetches, values=[result[0]])


def test_output_is_deterministic_and_bad_arguments_are_named():
    x, W, U, hs, loss = unrolled(T=3)
    gW, = tg.gradients(loss, [W])
    assert tg.viz.to_dot_source([loss, gW]) == tg.viz.to_dot_source([loss, gW])
    with pytest.raises(ValueError, match="grads"):
        tg.viz.to_dot(loss, grads="bogus")
    with pytest.raises(TypeError, match="fetches"):
        tg.viz.to_dot([loss, 3])
    with pytest.warns(UserWarning, match="nope"):
        tg.viz.to_dot(loss, collapse=["nope"])


# --------------------------------------------------------------------------- files

@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is missing (apt-get install graphviz)")
def test_render_writes_svg_and_png_next_to_the_dot_source(tmp_path):
    x, W, U, hs, loss = unrolled(T=2)
    out = tg.viz.render(loss, tmp_path / "graph.svg", keep_dot=True)
    assert out == str(tmp_path / "graph.svg")
    assert "<svg" in (tmp_path / "graph.svg").read_text()
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
    tg.viz.render(loss, tmp_path / "plain.svg")      # the DOT text only when asked (or no dot)
    assert (tmp_path / "plain.svg").exists() and not (tmp_path / "plain.dot").exists()
    png = tg.viz.render(loss, tmp_path / "sub" / "g", format="png", max_steps=1)
    assert png.endswith("g.png") and open(png, "rb").read(4) == b"\x89PNG"
    with pytest.raises(ValueError, match="format"):
        tg.viz.render(loss, tmp_path / "g.svg", format="png")


def test_render_without_dot_explains_and_still_writes_the_dot_file(tmp_path, monkeypatch):
    x, W, U, hs, loss = unrolled(T=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RuntimeError) as err:
        tg.viz.render(loss, tmp_path / "graph.svg")
    msg = str(err.value)
    assert "`dot`" in msg and "apt-get install graphviz" in msg and "brew install graphviz" in msg
    assert str(tmp_path / "graph.dot") in msg
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
    assert not (tmp_path / "graph.svg").exists()
    path = tg.viz.save_dot(loss, tmp_path / "only.dot")
    assert "cluster_rnn/step_1" in open(path).read()


# --------------------------------------------------------------------------- networkx

def test_to_networkx_attributes_and_edges():
    x = tg.placeholder((2, 3), name="x")
    with tg.name_scope("block"):
        w = tg.Variable(np.ones((3,), np.float32), name="w")
        sq = x * x
        y = fake_cell(sq + w, x)
    gx, = tg.gradients(tg.reduce_sum(sq), [x])
    update = w.assign(tg.zeros((3,)))
    step = tg.group(update)
    G = tg.to_networkx([y, gx, step])
    assert G.graph["fetches"] == [y.node.name, gx.node.name, step.name]
    assert G.nodes["x"] == dict(op="placeholder", shape=(2, 3), dtype="float32", name="x",
                                scope="", label="placeholder", grad_of=None, fused=False,
                                id=x.node.id)
    assert G.nodes["block/w"]["op"] == "variable"
    cell = G.nodes[y.node.name]
    assert cell["op"] == "fake_cell" and cell["fused"] and cell["scope"] == "block"
    assert G.nodes[update.name]["shape"] is None and G.nodes[update.name]["dtype"] is None
    mul = G.edges["x", sq.node.name]
    assert mul["kind"] == "data" and mul["index"] == 0 and mul["indices"] == (0, 1)
    assert G.edges[x.node.name, y.node.name]["index"] == 1
    assert G.edges[update.name, step.name] == dict(kind="control", index=None, indices=(),
                                                   output=None)
    assert G.nodes[gx.node.name]["grad_of"] == "x"              # add_n of both paths
    (part,) = G.predecessors(gx.node.name)      # g*x for both factors: one shared node
    assert G.nodes[part]["grad_of"] == sq.node.name
    assert G.edges[part, gx.node.name]["indices"] == (0, 1)
    import networkx as nx
    assert nx.is_directed_acyclic_graph(G)
    assert G.number_of_nodes() == len(tg.ir.topo_nodes([y, gx, step]))

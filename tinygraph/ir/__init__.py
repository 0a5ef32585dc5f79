"""The graph IR: ops (with their declared capabilities), nodes and tensors, the
graph they are built in, placeholders, closed subgraphs (``Function``), patterns
and rebuilding. Depends on nothing else in tinygraph; everything else depends on it."""
from tinygraph.ir.graph import (Graph, get_default_graph, in_scope, name_scope, provenance,
                                reset_default_graph, topo_nodes)
from tinygraph.ir.node import Node, Tensor, fmt_shape
from tinygraph.ir.op import OP_REGISTRY, Op, ShapeError, register_op

__all__ = ["Graph", "get_default_graph", "in_scope", "name_scope", "provenance",
           "reset_default_graph", "topo_nodes", "Node", "Tensor", "fmt_shape", "OP_REGISTRY",
           "Op", "ShapeError", "register_op"]

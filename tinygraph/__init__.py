"""tinygraph: a small symbolic autodiff framework with the LSTM as its flagship.

Build a graph (``placeholder``, ops, layers), differentiate it (``gradients``), run
it (``Session``), and look inside it (``viz``, ``gradflow``).

This module is the public API; the code lives in subpackages by role, each
importing only those below it: ``ir`` (the graph) <- ``ops`` <- ``autodiff`` <-
``compile`` (passes) <- ``runtime`` (plans, Session) <- ``train`` / ``layers`` <-
``tools`` (viz, gradflow, demo, bench, CLI); ``backends`` sit below the runtime.
"""
from tinygraph.ir import nest
from tinygraph.ir.graph import Graph, get_default_graph, name_scope, reset_default_graph
from tinygraph.ir.node import Node, Tensor
from tinygraph.ir.op import ShapeError
from tinygraph.ops.variables import Variable
from tinygraph.ops import *  # noqa: F401,F403 -- every op is tg.<name>
from tinygraph.ops import __all__ as _op_names
from tinygraph.autodiff import gradients
from tinygraph.compile.pipeline import optimize
from tinygraph.runtime.plan import NumericsError, Plan
from tinygraph.runtime.session import Session, evaluate
from tinygraph import backends
from tinygraph.train import initializers, losses, optimizers
from tinygraph.train.saving import load_weights, save_weights
from tinygraph.train.variable_store import (AUTO_REUSE, get_variable,
                                           global_variables_initializer, variable_scope)
from tinygraph.tools import gradflow, viz
from tinygraph.tools.viz import to_networkx

__version__ = "0.1.0"

__all__ = ["Graph", "Node", "ShapeError", "Tensor", "get_default_graph", "name_scope",
           "reset_default_graph", "AUTO_REUSE", "Variable", "get_variable", "global_variables_initializer",
           "variable_scope", "gradients", "NumericsError", "Plan", "Session", "evaluate",
           "optimize", "backends", "initializers", "losses", "optimizers", "load_weights",
           "save_weights", "viz", "to_networkx", "gradflow", "nest"] + list(_op_names)

"""tinygraph: a small symbolic autodiff framework with the LSTM as its flagship.

Build a graph (``placeholder``, ops, layers), differentiate it (``gradients``), run
it (``Session``), and look inside it (``viz``, ``gradflow``).
"""
from tinygraph.graph import (Graph, Node, ShapeError, Tensor, get_default_graph,
                             name_scope, reset_default_graph)
from tinygraph.variables import AUTO_REUSE, Variable, get_variable, variable_scope
from tinygraph.ops import *  # noqa: F401,F403 -- every op is tg.<name>
from tinygraph.ops import __all__ as _op_names
from tinygraph.autodiff import gradients
from tinygraph.session import NumericsError, Plan, Session, evaluate
from tinygraph.passes import optimize
from tinygraph import fusion  # noqa: F401 -- registers the LSTM fusion passes
from tinygraph import backends, initializers, losses, optimizers
from tinygraph.saving import load_weights, save_weights
from tinygraph import viz
from tinygraph.viz import to_networkx
from tinygraph import gradflow

__version__ = "0.1.0"

__all__ = ["Graph", "Node", "ShapeError", "Tensor", "get_default_graph", "name_scope",
           "reset_default_graph", "AUTO_REUSE", "Variable", "get_variable",
           "variable_scope", "gradients", "NumericsError", "Plan", "Session", "evaluate",
           "optimize", "backends", "initializers", "losses", "optimizers", "load_weights",
           "save_weights", "viz", "to_networkx", "gradflow"] + list(_op_names)

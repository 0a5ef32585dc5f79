"""Optimizers with Keras' formulas and defaults. ``opt.minimize(loss)`` builds the
gradient graph and returns one update op; running it updates every variable
(all-or-nothing) and then applies each variable's ``constraint``."""
import numpy as np

from tinygraph import ops
from tinygraph.autodiff import gradients
from tinygraph.ir.node import Tensor
from tinygraph.ops.variables import Variable, trainable_variables


def _number(owner, name, value):
    """A hyperparameter as a float; TypeError naming it when it is not a real number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{type(owner).__name__}: {name} must be a number, got "
                        f"{type(value).__name__} {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{type(owner).__name__}: {name} must be finite, got {value}")
    return float(value)


class Optimizer:
    def __init__(self, learning_rate):
        if not _number(self, "learning_rate", learning_rate) > 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be positive, "
                             f"got {learning_rate}")
        self.learning_rate = float(learning_rate)
        self._slots = {}

    def _slot(self, var, kind):
        key = (id(var), kind)
        if key not in self._slots:
            self._slots[key] = Variable(np.zeros(var.shape, var.dtype),
                                        name=f"{var.name.replace('/', '_')}_{kind}", trainable=False)
        return self._slots[key]

    def minimize(self, loss, var_list=None):
        """The op that takes one step on ``loss`` for ``var_list`` (default: every
        trainable Variable the loss reads)."""
        if not isinstance(loss, Tensor):
            raise TypeError(f"minimize: loss must be a Tensor, got {type(loss).__name__} {loss!r}")
        if loss.dtype.kind != "f":
            raise TypeError(f"minimize: loss {loss.name!r} must be a float tensor, is "
                            f"{loss.dtype.name}")
        if loss.ndim != 0 and any(d != 1 for d in loss.shape):
            raise ValueError(f"minimize: loss {loss.name!r} must be a scalar, has shape {loss.shape}")
        var_list = trainable_variables(loss) if var_list is None else list(var_list)
        if not var_list:
            raise ValueError(f"minimize: loss {loss.name!r} depends on no trainable Variable")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"minimize: var_list holds {v!r}, which is not a Variable")
        grads = gradients(loss, var_list)
        pairs = [(g, v) for g, v in zip(grads, var_list) if g is not None]
        if not pairs:
            raise ValueError(f"minimize: no variable in var_list affects {loss.name!r}")
        return self.apply_gradients(pairs)

    def apply_gradients(self, grads_and_vars):
        updates = self._updates(list(grads_and_vars))
        return ops.group(*updates, name=type(self).__name__)

    @staticmethod
    def _set(var, new):
        if var.constraint is not None:
            new = var.constraint(new)
        return var.assign(new)


class SGD(Optimizer):
    """Keras SGD: v = momentum*v - lr*g; var += v (plain var -= lr*g without momentum)."""

    def __init__(self, learning_rate=0.01, momentum=0.0):
        super().__init__(learning_rate)
        if not 0.0 <= _number(self, "momentum", momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum = float(momentum)

    def _updates(self, pairs):
        out = []
        for g, var in pairs:
            if self.momentum:
                m = self._slot(var, "momentum")
                new_m = m * self.momentum - g * self.learning_rate
                out += [m.assign(new_m), self._set(var, var + new_m)]
            else:
                out.append(self._set(var, var - g * self.learning_rate))
        return out


class Adam(Optimizer):
    """Keras Adam: m, v moments; var -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= _number(self, n, b) < 1.0:
                raise ValueError(f"Adam: {n} must be in [0, 1), got {b}")
        if not _number(self, "epsilon", epsilon) > 0:
            raise ValueError(f"Adam: epsilon must be positive, got {epsilon}")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.iterations = Variable(np.zeros((), "float64"), name="adam_iterations", trainable=False)

    def _updates(self, pairs):
        t = self.iterations + 1.0
        out = [self.iterations.assign(t)]
        for g, var in pairs:
            m, v = self._slot(var, "m"), self._slot(var, "v")
            tc = ops.cast(t, var.dtype)
            alpha = self.learning_rate * ops.sqrt(1.0 - ops.power(ops.constant(self.beta_2, var.dtype), tc)) \
                / (1.0 - ops.power(ops.constant(self.beta_1, var.dtype), tc))
            new_m = m + (g - m) * (1.0 - self.beta_1)
            new_v = v + (ops.square(g) - v) * (1.0 - self.beta_2)
            out += [m.assign(new_m), v.assign(new_v),
                    self._set(var, var - new_m * alpha / (ops.sqrt(new_v) + self.epsilon))]
        return out

"""Weight regularizers (Keras formulas): ``l1 * sum(|w|) + l2 * sum(w**2)``.

``layer.losses`` holds the terms; add them to the training loss yourself
(``tg.losses.regularization_loss(layer)``), graph-style.
"""
import tinygraph as tg


class Regularizer:
    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``. The class defaults are 0 (as Keras' class)."""

    def __init__(self, l1=0.0, l2=0.0):
        for n, v in (("l1", l1), ("l2", l2)):
            if not float(v) >= 0:
                raise ValueError(f"{type(self).__name__}: {n} must be >= 0, got {v}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        terms = []
        if self.l1:
            terms.append(self.l1 * tg.reduce_sum(tg.abs(w)))
        if self.l2:
            terms.append(self.l2 * tg.reduce_sum(tg.square(w)))
        if not terms:
            return tg.constant(0.0, dtype=w.dtype)
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    """Both terms; the function's defaults are 0.01 each (tf.keras' ``l1_l2``)."""
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: l1_l2(), "l1l2": lambda: l1_l2()}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A regularizer from None, a name (l1, l2, l1_l2), a config dict or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown regularizer {identifier!r}; valid names: l1, l2, l1_l2")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as a regularizer")


def serialize(reg):
    if reg is None:
        return None
    if isinstance(reg, Regularizer):
        return {"class_name": type(reg).__name__, "config": reg.get_config()}
    return reg

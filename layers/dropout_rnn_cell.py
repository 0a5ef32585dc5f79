"""``DropoutRNNCellMixin``: the Keras mask API of the recurrent cells.

Masks are drawn once and cached until reset, so every time step of one RNN call
shares them; ``RNN`` resets them at each call and draws them before its loop (a
loop body only reads them).
"""
import numpy as np

import tinygraph as tg

from .base import check_rate


def _training_flag(training):
    """False (no dropout), True, or a scalar bool Tensor (decided at run time)."""
    if isinstance(training, tg.Tensor):
        if training.ndim != 0 or training.dtype != np.bool_:
            raise ValueError(f"training must be a Python bool or a scalar bool tensor, got "
                             f"{training.shape} {training.dtype.name}")
        return training
    return bool(training)


def _derived_seed(seed, draw):
    """A distinct reproducible seed for the ``draw``-th mask of a cell seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(draw)]).generate_state(1)[0] % (2 ** 31 - 1))


class DropoutRNNCellMixin:
    """Dropout masks for a cell: 0 or 1/(1-rate), drawn once per RNN call.

    A mask exists only when training and 0 < rate < 1. ``count`` > 1 gives a list of
    independent masks (one per gate). With ``seed``, draw k of the cell always uses
    the same derived seed, so a rebuilt model reproduces its masks.

    A user's cell needs no set-up call: it sets ``dropout``, ``recurrent_dropout``
    (and ``seed``) itself, as with Keras; the defaults below stand in until then.
    """

    # defaults for a user's cell that never calls _init_dropout (as Keras needs none)
    dropout = 0.0
    recurrent_dropout = 0.0
    seed = None
    _dropout_mask = None
    _recurrent_dropout_mask = None
    _draws = 0

    def _init_dropout(self, dropout, recurrent_dropout, seed):
        owner = type(self).__name__
        self.dropout = check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = check_rate(owner, "recurrent_dropout", recurrent_dropout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"{owner}: seed must be None or a non-negative integer, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._dropout_mask = None
        self._recurrent_dropout_mask = None
        self._draws = 0

    def _draw_masks(self, like, rate, training, count):
        if like.ndim < 1 or any(d is None for d in like.shape[1:]):
            raise ValueError(f"{self.name}: a dropout mask needs a tensor with known feature "
                             f"dimensions, got {like.shape}")
        batch = like.shape[0] if like.shape[0] is not None else tg.shape(like)[0]
        shape = [batch] + list(like.shape[1:])
        masks = []
        for _ in range(count):
            seed = None if self.seed is None else _derived_seed(self.seed, self._draws)
            self._draws += 1
            m = tg.dropout_mask(shape, rate, like.dtype, seed=seed)
            if isinstance(training, tg.Tensor):
                m = tg.where(training, m, tg.ones_like(m))
            masks.append(m)
        return masks[0] if count == 1 else masks

    def get_dropout_mask_for_cell(self, inputs, training, count=1):
        """The cached input mask(s), drawn from ``inputs``' shape on first use; None
        when not training or dropout is 0."""
        training = _training_flag(training)
        if training is False or not 0.0 < self.dropout < 1.0:
            return None
        if self._dropout_mask is None:
            with tg.name_scope("dropout"):
                self._dropout_mask = self._draw_masks(tg.convert_to_tensor(inputs),
                                                      self.dropout, training, count)
        return self._dropout_mask

    def get_recurrent_dropout_mask_for_cell(self, inputs, training, count=1):
        """The cached recurrent mask(s), drawn from the state ``inputs``' shape."""
        training = _training_flag(training)
        if training is False or not 0.0 < self.recurrent_dropout < 1.0:
            return None
        if self._recurrent_dropout_mask is None:
            with tg.name_scope("recurrent_dropout"):
                self._recurrent_dropout_mask = self._draw_masks(
                    tg.convert_to_tensor(inputs), self.recurrent_dropout, training, count)
        return self._recurrent_dropout_mask

    def get_dropout_mask(self, step_input):
        """Keras 3's name: the input mask while training (its cells call it under
        ``if training:``)."""
        return self.get_dropout_mask_for_cell(step_input, True)

    def get_recurrent_dropout_mask(self, step_input):
        """Keras 3's name: the recurrent mask while training."""
        return self.get_recurrent_dropout_mask_for_cell(step_input, True)

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None

    # counts of masks per call: overridden by cells with per-gate masks
    _input_mask_count = 1
    _recurrent_mask_count = 1

    def _create_dropout_masks(self, inputs, states, training):
        """Draw this call's masks before the RNN loop (``inputs``: a tensor shaped like
        one step's input; ``states``: the initial states)."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        self.get_dropout_mask_for_cell(inputs, training, self._input_mask_count)
        self.get_recurrent_dropout_mask_for_cell(h, training, self._recurrent_mask_count)

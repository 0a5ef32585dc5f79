"""``StackedRNNCells``: several cells as one step."""
import tinygraph as tg

from .base import Layer, deserialize, serialize
from .cell_contract import batch_size_of, call_cell, initial_state_of, output_size_of


class StackedRNNCells(Layer):
    """Several cells as one: within a step, each cell's output is the next one's input.
    ``state_size`` is the list of the cells' state sizes; the output is the last cell's."""

    def __init__(self, cells, **kwargs):
        cells = [deserialize(c) for c in (cells if isinstance(cells, (list, tuple)) else [cells])]
        if not cells:
            raise ValueError("StackedRNNCells: needs at least one cell")
        for c in cells:
            if not hasattr(c, "state_size"):
                raise ValueError(f"StackedRNNCells: {c!r} is not an RNN cell (it has no "
                                 "state_size)")
        if kwargs.get("dtype") is None:      # take the cells' dtype (Keras 3 assumes float32)
            kwargs["dtype"] = next((c.dtype for c in cells if isinstance(c, Layer)), None)
        super().__init__(**kwargs)
        self.cells = cells
        for c in cells:
            self._track(c)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return output_size_of(self.cells[-1])

    def build(self, input_shape):
        dim = input_shape[-1]
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell._maybe_build((input_shape[0], dim))
            dim = output_size_of(cell)

    def call(self, inputs, states, training=None):
        states = list(states)
        if len(states) != len(self.cells):
            raise ValueError(f"{self.name}: expected one state entry per cell "
                             f"({len(self.cells)}), got {len(states)}")
        new_states = []
        for cell, s in zip(self.cells, states):
            inputs, s = call_cell(cell, inputs, s, training)
            new_states.append(s)
        return inputs, new_states

    def get_initial_state(self, batch_size=None, inputs=None, dtype=None):
        batch_size = batch_size_of(self.name, batch_size, inputs)
        return [initial_state_of(c, batch_size, dtype or self.dtype) for c in self.cells]

    def reset_dropout_mask(self):
        for c in self.cells:
            if hasattr(c, "reset_dropout_mask"):
                c.reset_dropout_mask()

    def reset_recurrent_dropout_mask(self):
        for c in self.cells:
            if hasattr(c, "reset_recurrent_dropout_mask"):
                c.reset_recurrent_dropout_mask()

    def _create_dropout_masks(self, inputs, states, training):
        batch = inputs.shape[0] if inputs.shape[0] is not None else tg.shape(inputs)[0]
        for cell, s in zip(self.cells, states):
            if hasattr(cell, "_create_dropout_masks"):
                cell._create_dropout_masks(inputs, s, training)
            inputs = tg.zeros([batch, output_size_of(cell)], inputs.dtype)

    def get_config(self):
        return dict(super().get_config(), cells=[serialize(c) for c in self.cells])

"""What a report says beyond the gradient norms: the state Jacobians and their
spectra (``analyze(..., jacobians=True)``) and gate saturation (``gates=True``)."""
import numpy as np

from tinygraph.tools.gradflow.jacobians import singular_values, singular_values_fast, span_product

LOW, HIGH = 0.1, 0.9             # saturation thresholds, as in Karpathy et al. 2015


class JacobianViews:
    """Mixed into GradientFlowReport; reads ``self.jacobians`` (T, B, n, n) or None,
    ``self.gate_values`` ({gate: (T, B, U)} or None) and ``self.T``."""

    jacobians = None
    gate_values = None
    saturating = ()
    _spectra_cache = None

    def _jac(self):
        if self.jacobians is None:
            raise ValueError("gradflow: this report has no Jacobians; analyze the loss with "
                             "jacobians=True")
        return self.jacobians

    def _step(self, t, what="t"):
        if not isinstance(t, (int, np.integer)) or not 0 <= t < self.T:
            raise IndexError(f"gradflow: step {what}={t!r} is out of range; the report has "
                             f"T={self.T} steps (0..{self.T - 1})")
        return int(t)

    def jacobian(self, t):
        """J_t (batch, n, n): J_t[b, i, j] = d state_t[b, i] / d state_{t-1}[b, j], the
        state being the concatenation of the states in ``names`` (LSTM: h, c); J_0 is
        with respect to the initial state."""
        return self._jac()[self._step(t)]

    def spectrum(self, t):
        """Singular values of J_t per sample, (batch, n), descending."""
        return singular_values(self.jacobian(t))

    def span(self, t0, t1):
        """Singular values (batch, n), descending, of J_{t1} ... J_{t0+1}: how a
        perturbation of the state after step t0 reaches the state after step t1."""
        J = self._jac()
        t0, t1 = self._step(t0, "t0"), self._step(t1, "t1")
        if t1 < t0:
            raise ValueError(f"gradflow: span needs t0 <= t1, got t0={t0}, t1={t1} (T={self.T})")
        return singular_values(span_product(J, t0, t1))

    def _jac_norms(self):
        """Per step, the largest singular value of J_t, mean over the batch."""
        return self.spectra()[:, :, 0].mean(axis=1)

    def spectra(self):
        """(T, batch, n): every step's singular values, descending (what the spectrum
        plot and norms("jac") read; from eigenvalues, exact to about 1e-8 of the
        largest: jacobians.py)."""
        if self._spectra_cache is None:
            J = self._jac()
            self._spectra_cache = np.stack([singular_values_fast(J[t]) for t in range(self.T)])
        return self._spectra_cache

    def saturation(self, gate):
        """(low, high), each (T,): per step, the fraction of (sample, unit) values of
        the gate's activation below 0.1 and above 0.9 (strict)."""
        if self.gate_values is None:
            raise ValueError("gradflow: this report was made without gates=True, so it has no "
                             "gate values; analyze the loss with gates=True")
        if gate not in self.gate_values:
            raise ValueError(f"gradflow: no gate {gate!r}; the valid gates are "
                             f"{list(self.gate_values)}")
        g = self.gate_values[gate].reshape(self.T, -1)
        return (g < LOW).mean(axis=1), (g > HIGH).mean(axis=1)

"""Reverse-mode autodiff: ``gradients`` builds gradient graphs from each op's VJP."""
from tinygraph.autodiff.gradients import GradRecord, decompose, gradients
from tinygraph.autodiff.unfuse import unfuse

__all__ = ["GradRecord", "decompose", "gradients", "unfuse"]

"""Reverse-mode autodiff: ``gradients`` builds gradient graphs from each op's VJP."""
from tinygraph.autodiff.gradients import GradRecord, gradients

__all__ = ["GradRecord", "gradients"]

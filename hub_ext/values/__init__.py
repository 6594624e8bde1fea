"""`accelhub values check`: z2jh Helm values merged as Helm does, checked against the chart's
schema and against what accelhub needs from them."""

from .merge import load_values, merge_values
from .problems import Problem

__all__ = ["Problem", "load_values", "merge_values"]

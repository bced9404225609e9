"""Deeplake: typed multimodal tables with SQL, vector, BM25 and hybrid
search, and training access. ``from deeplake import Client``."""

from ._native import __version__
from .managed.client import Client
from .dataset import Dataset, Row, View

__all__ = ["Client", "Dataset", "View", "Row", "__version__"]

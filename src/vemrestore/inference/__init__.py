"""Whole-volume inference: device handling and the tiled streaming engine."""

from vemrestore.inference.engine import restore_slices
from vemrestore.inference.predictor import Predictor, select_device

__all__ = ["Predictor", "restore_slices", "select_device"]

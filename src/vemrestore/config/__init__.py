"""Strict, validated configuration models (pydantic, unknown keys rejected)."""

from vemrestore.config.inference import InferenceConfig
from vemrestore.config.normalization import NormalizationConfig

__all__ = ["InferenceConfig", "NormalizationConfig"]

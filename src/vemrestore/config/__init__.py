"""Strict, validated configuration models (pydantic, unknown keys rejected)."""

from vemrestore.config.distributed import DistributedConfig
from vemrestore.config.inference import InferenceConfig
from vemrestore.config.live import LiveConfig
from vemrestore.config.normalization import NormalizationConfig

__all__ = ["DistributedConfig", "InferenceConfig", "LiveConfig", "NormalizationConfig"]

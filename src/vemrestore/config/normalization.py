"""How intensities are mapped to the network's range; saved with every model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class NormalizationConfig(BaseModel):
    """Intensity normalisation, stored in the checkpoint so inference maps data as training did.

    ``dtype``: divide by the dtype's range (uint8: 0..255, uint16: 0..65535, float32 as is).
    ``percentile``: map the volume's ``low_percentile``..``high_percentile`` to 0..1, for data
    that use only part of the dtype range (common for 16-bit detectors).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["dtype", "percentile"] = "dtype"
    low_percentile: float = Field(0.1, ge=0.0, lt=100.0)
    high_percentile: float = Field(99.9, gt=0.0, le=100.0)

    @model_validator(mode="after")
    def _percentiles_ordered(self) -> NormalizationConfig:
        if self.low_percentile >= self.high_percentile:
            raise ValueError("low_percentile must be below high_percentile")
        return self

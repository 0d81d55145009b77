"""Settings of live restoration (``vemrestore watch``): when a slice has arrived, when to stop."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LiveConfig(BaseModel):
    """How a folder being filled by a microscope is followed.

    A slice file has arrived once its size has not changed for ``settle_seconds`` and it
    decodes whole. The acquisition has ended when ``done_file`` appears in the folder, or after
    ``until_idle`` seconds without a new slice (None: wait for the done file or a stop).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_seconds: float = Field(0.2, gt=0.0, le=60.0)
    settle_seconds: float = Field(0.5, ge=0.0, le=600.0)
    until_idle: float | None = Field(None, gt=0.0)
    done_file: str | None = "acquisition.done"

"""Settings of block-wise restoration on Dask: where it runs and how the volume is cut."""

from __future__ import annotations

from pydantic import BaseModel, ByteSize, ConfigDict, Field, model_validator

Triple = tuple[int, int, int]


class DistributedConfig(BaseModel):
    """How a chunked volume is restored in blocks, on this machine or on a Dask cluster.

    Without ``scheduler`` a local cluster of ``workers`` processes is started (default: one
    per core, or one per GPU, as many as the memory holds), each limited to
    ``memory_per_worker`` bytes (e.g. ``"4GiB"``; default: the memory shared equally). With
    ``scheduler`` (e.g. ``"tcp://host:8786"``) the blocks go to that existing cluster, whose
    workers and memory limits are its own. ``block`` and ``chunks`` are (z, y, x) voxels;
    blocks are rounded up to whole output chunks. ``max_blocks`` stops after that many blocks
    (e.g. to fit a batch queue's time limit); the next run continues where this one stopped.
    ``threads_per_worker`` sets each worker's PyTorch threads (default: the machine's cores
    shared between its workers); the numbers do not depend on it. ``stall_timeout_s``: a run
    in which no block finishes for that long stops (a hung worker or scheduler) and can be
    resumed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int | None = Field(None, ge=1, le=1024)
    memory_per_worker: ByteSize | None = Field(None, ge=256 * 2**20)
    scheduler: str | None = None
    block: Triple | None = None
    chunks: Triple | None = None
    max_blocks: int | None = Field(None, ge=1)
    threads_per_worker: int | None = Field(None, ge=1, le=1024)
    stall_timeout_s: float = Field(3600.0, gt=0, le=7 * 24 * 3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> DistributedConfig:
        if self.scheduler is not None and (
            self.workers is not None or self.memory_per_worker is not None
        ):
            raise ValueError(
                "workers and memory_per_worker size the local cluster; with a scheduler the "
                "cluster's own workers are used"
            )
        for name, value in (("block", self.block), ("chunks", self.chunks)):
            if value is not None and min(value) < 1:
                raise ValueError(f"{name} sizes must be >= 1, got {value}")
        return self

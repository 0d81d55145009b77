"""Block-wise restoration on Dask: out-of-core, on many workers or machines, resumable.

The volume is cut into blocks of whole output chunks (``geometry.blocks``); each block is
restored independently by ``inference.blocks.restore_block`` and marked finished after its
data (``io.zarr_output``). A run skips blocks already marked, so a crashed or interrupted
run, run again, finishes the rest and gives output bit-identical to an uninterrupted run.

Without a scheduler address a ``LocalCluster`` of single-threaded worker processes is
started, one per core (or per GPU), each with its share of the machine's memory; with one,
the blocks go to that cluster (all workers must see the same input and output paths). Only
a few blocks per worker thread are submitted at a time, so the scheduler holds a bounded
number of tasks however large the volume. A single pending block runs in this process.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import psutil
import torch
from distributed import Client, Future, KilledWorker, LocalCluster, Worker, wait
from distributed.comm import get_address_host
from distributed.comm.addressing import parse_address, parse_host_port
from tqdm.auto import tqdm

from vemrestore.config.distributed import DistributedConfig
from vemrestore.errors import VemRestoreError
from vemrestore.geometry.blocks import Block, plan_blocks, round_block_shape
from vemrestore.inference.blocks import (
    BlockJob,
    available_cores,
    configure_worker,
    estimated_worker_bytes,
    provenance,
    release_worker_state,
    restore_block,
    resume_settings,
)
from vemrestore.io import VolumeSpec
from vemrestore.io.base import error_reason
from vemrestore.io.zarr_output import BlockOutput, exclusive_run
from vemrestore.io.zarr_store import DEFAULT_CHUNKS
from vemrestore.model_io.checkpoint import Checkpoint

DEFAULT_BLOCK = (32, 2048, 2048)
"""About 128 MiB of uint8 output per block: large next to the tile halo, small in memory."""

WAIT_FOR_WORKERS_S = 120
"""How long a run on a scheduler waits for its first worker before giving up."""

TASKS_PER_WORKER_THREAD = 2
"""Blocks queued per worker thread: enough to keep workers busy, few enough to stop fast."""

CONNECT_TIMEOUT_S = 30
"""How long a scheduler may take to accept a connection and send its handshake."""

POLL_S = 0.5
"""Longest wait between two looks at a held Ctrl-C."""

MAX_HANDSHAKE_BYTES = 1 << 20
"""A Dask handshake is a few hundred bytes; a larger announced length is not Dask."""


@dataclass(frozen=True)
class BlockRunSummary:
    """What a block-wise run did: ``restored`` ids this run, ``skipped`` finished before."""

    output: Path
    total: int
    skipped: int
    restored: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return self.skipped + len(self.restored) == self.total


def restore_in_blocks(
    job: BlockJob,
    checkpoint: Checkpoint,
    spec: VolumeSpec,
    settings: DistributedConfig,
    overwrite: bool = False,
    progress: bool = False,
    checkpoint_file: Path | None = None,
) -> BlockRunSummary:
    """Restore ``job`` into its OME-Zarr output, resuming an unfinished one with equal settings.

    ``spec`` describes the output (input shape, output dtype, voxel size). Ctrl-C or an error
    keeps the finished blocks for the next run; the output is flagged incomplete until done.
    """
    chunks = tuple(
        min(c, n) for c, n in zip(settings.chunks or DEFAULT_CHUNKS, spec.shape, strict=True)
    )
    block_shape = round_block_shape(settings.block or DEFAULT_BLOCK, chunks, spec.shape)
    blocks = plan_blocks(job.grid, chunks, block_shape)
    needed = max(estimated_worker_bytes(job, block, chunks[0]) for block in blocks)
    _check_memory(job, needed, settings)
    with exclusive_run(job.output_path):
        output = BlockOutput.prepare(
            job.output_path,
            spec,
            chunks,
            resume_settings(job, spec.shape, chunks),
            provenance(job, checkpoint, checkpoint_file, block_shape),
            overwrite,
        )
        finished = output.finished_blocks() & {block.id for block in blocks}
        pending = [block for block in blocks if block.id not in finished]
        pending = pending[: settings.max_blocks or len(pending)]
        with tqdm(
            total=len(blocks),
            initial=len(finished),
            unit="block",
            desc="restoring",
            disable=not progress,
        ) as bar:
            if settings.scheduler is None and len(pending) <= 1:
                restored = _run_here(job, pending, checkpoint, bar)
            else:
                restored = _run_on_dask(job, pending, checkpoint, settings, needed, bar)
        summary = BlockRunSummary(output.path, len(blocks), len(finished), restored)
        if summary.complete:
            output.mark_complete()
        return summary


def _check_memory(job: BlockJob, needed: int, settings: DistributedConfig) -> None:
    """Refuse blocks that cannot fit a local worker, rather than letting workers be killed."""
    if settings.scheduler is not None:
        return
    _, memory = local_cluster_size(settings, needed)
    if needed > memory:
        raise VemRestoreError(
            f"{job.output_path}: a block needs about {needed / 2**30:.1f} GiB per worker, more "
            f"than the {memory / 2**30:.1f} GiB available; use a smaller --block (or fewer "
            "--workers, or more --memory-per-worker)"
        )


def _run_here(
    job: BlockJob, pending: list[Block], checkpoint: Checkpoint, bar: tqdm
) -> tuple[str, ...]:
    try:
        for block in pending:
            restore_block(job, block, checkpoint)
            bar.update()
    finally:
        release_worker_state()
    return tuple(block.id for block in pending)


def _run_on_dask(
    job: BlockJob,
    pending: list[Block],
    checkpoint: Checkpoint,
    settings: DistributedConfig,
    needed: int,
    bar: tqdm,
) -> tuple[str, ...]:
    restored: list[str] = []
    # Ctrl-C is taken between waits, never inside Dask's own calls (its sync() can fail on a
    # KeyboardInterrupt raised mid-call, with a traceback of its own).
    with _interrupts_deferred() as interrupted, _client(settings, needed) as client:
        _configure_workers(client, settings.threads_per_worker)
        # Sent once to every worker, not with each task: the model, and the grid's weights.
        model = client.scatter(cloudpickle.dumps(checkpoint), broadcast=True, hash=False)
        shared_job = client.scatter(job, broadcast=True, hash=False)
        queue = iter(pending)
        running: set[Future] = set()

        def submit_more() -> None:
            capacity = TASKS_PER_WORKER_THREAD * max(1, sum(client.nthreads().values()))
            for block in queue:
                key = f"restore-block-{block.id}-{job.run_id}"
                running.add(client.submit(restore_block, shared_job, block, model, key=key))
                if len(running) >= capacity:
                    return

        submit_more()
        try:
            while running:
                finished = _first_finished(running, settings.stall_timeout_s, job, interrupted)
                for future in finished:
                    running.discard(future)
                    restored.append(future.result())
                    bar.update()
                submit_more()
        except KilledWorker as error:
            raise VemRestoreError(
                f"{job.output_path}: a worker died restoring {error.task} (out of memory? use "
                "a smaller --block or more --memory-per-worker); rerun to resume"
            ) from None
        finally:
            client.cancel(list(running))
    return tuple(restored)


def _first_finished(
    running: set[Future], timeout_s: float, job: BlockJob, interrupted: Callable[[], bool]
) -> set[Future]:
    """The futures of ``running`` that are done, waiting at most ``timeout_s`` for one, in
    short waits between which a held Ctrl-C is raised."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise VemRestoreError(
                f"{job.output_path}: no block finished in {timeout_s:g} s (a hung worker or "
                "scheduler?); finished blocks are kept: rerun to resume, or raise "
                "--stall-timeout"
            )
        try:
            done = wait(running, timeout=min(POLL_S, remaining), return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = None
        if interrupted():
            raise KeyboardInterrupt
        if done is not None:
            return done.done


@contextmanager
def _client(settings: DistributedConfig, needed: int) -> Iterator[Client]:
    """A client of the given scheduler, or of a local cluster sized to this machine.

    ``needed`` is the estimated memory of one worker, which caps the default worker count.
    """
    if settings.scheduler is not None:
        probe_scheduler(settings.scheduler)
        try:
            client = Client(settings.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, ValueError, TypeError) as error:
            raise VemRestoreError(
                f"--scheduler {settings.scheduler}: cannot connect ({error_reason(error)})"
            ) from None
        with client:
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
            except TimeoutError:
                raise VemRestoreError(
                    f"--scheduler {settings.scheduler}: no worker joined within "
                    f"{WAIT_FOR_WORKERS_S} s; start workers with 'dask worker ADDRESS'"
                ) from None
            yield client
        return
    workers, memory = local_cluster_size(settings, needed)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            dashboard_address=None,  # no web server: nothing listens beyond this machine
            silence_logs=logging.ERROR,
            preload=["vemrestore.inference.dask_worker"],  # Ctrl-C is ours alone
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def _interrupts_deferred() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C during a Dask run; yields "was it pressed?" for the run to poll.

    A KeyboardInterrupt raised at an arbitrary point breaks Dask: a half-started
    ``LocalCluster`` leaves workers its exit hook cannot close, and ``Client`` calls fail in
    their own clean-up, each with a page of tracebacks. The run raises the held interrupt
    between its waits instead, or at the end. (Workers still starting get the terminal's
    Ctrl-C too and may print their own; once started they ignore it, ``dask_worker``.)
    Outside the main thread signals cannot be caught, and nothing is held.
    """
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda number, _: received.append(number))
    except ValueError:
        yield lambda: False
        return
    try:
        yield lambda: bool(received)
    except Exception:
        if received:  # the workers, interrupted too, failed to start: report the cause
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def probe_scheduler(address: str) -> None:
    """Refuse a ``tcp://`` address where no Dask scheduler answers, before Dask connects.

    A Dask scheduler speaks first: on accepting a connection it sends its handshake, framed
    by an 8-byte little-endian length. A listener that stays silent (Dask's client would wait
    far past its timeout) or sends something else (an HTTP server: Dask would read its text
    as a length of exabytes and try to allocate it) is refused within ``CONNECT_TIMEOUT_S``.
    Other protocols (tls://, ucx://) are left to Dask.
    """
    try:
        protocol, location = parse_address(address)
        if protocol != "tcp":
            return
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as error:
        raise VemRestoreError(
            f"--scheduler {address}: not a scheduler address ({error_reason(error)}); "
            "expected tcp://HOST:PORT"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as connection:
            header = b""
            while len(header) < 8:
                received = connection.recv(8 - len(header))
                if not received:
                    break
                header += received
    except TimeoutError:
        raise VemRestoreError(
            f"--scheduler {address}: connected, but nothing answered within "
            f"{CONNECT_TIMEOUT_S} s; is a Dask scheduler listening there?"
        ) from None
    except OSError as error:
        raise VemRestoreError(
            f"--scheduler {address}: cannot connect ({error_reason(error)})"
        ) from None
    if len(header) < 8 or not 0 < int.from_bytes(header, "little") <= MAX_HANDSHAKE_BYTES:
        raise VemRestoreError(
            f"--scheduler {address}: something answered, but not a Dask scheduler "
            f"(first bytes {header[:8]!r}); check the address and port"
        )


def local_cluster_size(settings: DistributedConfig, needed: int) -> tuple[int, int]:
    """Workers and bytes per worker: one per core (or GPU), as many as the memory holds.

    ``needed`` is the estimated memory of one worker, used when no memory limit is given.
    """
    total = psutil.virtual_memory().total
    if settings.memory_per_worker is not None and settings.memory_per_worker > total:
        raise VemRestoreError(
            f"--memory-per-worker {settings.memory_per_worker.human_readable()}: more than "
            f"this machine's {total / 2**30:.1f} GiB of memory"
        )
    workers = settings.workers
    if workers is None:
        per_worker = settings.memory_per_worker or needed
        workers = max(1, min(torch.cuda.device_count() or available_cores(), total // per_worker))
    memory = int(settings.memory_per_worker or total // workers)
    return workers, memory


def _configure_workers(client: Client, threads: int | None) -> None:
    """Tell each worker its rank among the workers on its machine (cores and GPU sharing)."""
    hosts = {address: get_address_host(address) for address in client.nthreads()}
    per_host = Counter(hosts.values())
    seen: Counter[str] = Counter()
    plan = {}
    for address, host in sorted(hosts.items()):
        plan[address] = (seen[host], per_host[host], threads)
        seen[host] += 1
    client.run(_configure_this_worker, plan)


def _configure_this_worker(
    plan: dict[str, tuple[int, int, int | None]], dask_worker: Worker
) -> None:
    configure_worker(*plan.get(dask_worker.address, (0, 1, None)))

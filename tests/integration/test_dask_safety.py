"""Block runs against misbehaving schedulers and concurrent runs: one clear line, in time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch
import zarr
from torch import nn

import vemrestore.inference.distributed as distributed
from vemrestore.api import restore_blocks
from vemrestore.config import DistributedConfig, NormalizationConfig
from vemrestore.errors import VemRestoreError
from vemrestore.io.zarr_output import exclusive_run
from vemrestore.model_io.checkpoint import Checkpoint, save_checkpoint
from vemrestore.models import create_model

# Worker processes cannot import this test module: ship its model class by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Hung(nn.Module):
    """A network that never answers in time: a worker stuck on a dead file system, say."""

    window = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(30)
        return x


@contextmanager
def listener(reply: bytes | None) -> Iterator[str]:
    """A local TCP server that accepts connections and sends ``reply`` (None: stays silent)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(connection)
            if reply is not None:
                connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


@pytest.fixture
def job_files(tmp_path: Path) -> tuple[Path, Path]:
    volume = tmp_path / "in.zarr"
    data = (np.arange(4 * 32 * 32) % 251).astype(np.uint8).reshape(4, 32, 32)
    zarr.open_array(str(volume), mode="w", shape=data.shape, dtype=data.dtype)[:] = data
    model = tmp_path / "identity.pt"
    save_checkpoint(model, create_model("identity", window=1), NormalizationConfig())
    return volume, model


def test_a_silent_listener_is_refused_within_the_timeout(job_files, tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1)
    volume, model = job_files
    with listener(None) as address:
        with pytest.raises(VemRestoreError, match="nothing answered within 1 s"):
            restore_blocks(
                volume,
                tmp_path / "out.zarr",
                model,
                distributed=DistributedConfig(scheduler=address),
            )


def test_a_server_that_is_not_dask_is_recognised(monkeypatch):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1)
    with listener(b"HTTP/1.1 400 Bad Request\r\n\r\n") as address:
        with pytest.raises(VemRestoreError, match="not a Dask scheduler"):
            distributed.probe_scheduler(address)


@pytest.mark.parametrize("address", ["tcp://no-port-here", "tcp://[::1:::]:x"])
def test_garbage_scheduler_addresses_are_one_clear_error(address):
    with pytest.raises(VemRestoreError, match="--scheduler"):
        distributed.probe_scheduler(address)


def test_a_second_concurrent_block_run_is_refused(job_files, tmp_path):
    volume, model = job_files
    output = tmp_path / "out.zarr"
    with exclusive_run(output):  # what a first run holds while it works
        with pytest.raises(VemRestoreError, match="another vemrestore run is writing"):
            restore_blocks(volume, output, model, distributed=DistributedConfig(workers=1))
    assert not output.exists()
    summary = restore_blocks(volume, output, model, distributed=DistributedConfig(workers=1))
    assert summary.complete  # the lock is released with the first run
    assert not (tmp_path / ".out.zarr.vemrestore-lock").exists(), "a finished run tidies up"


def test_the_local_cluster_starts_no_dashboard(monkeypatch):
    seen = {}

    class Recorded(Exception):
        pass

    def fake_cluster(**kwargs):
        seen.update(kwargs)
        raise Recorded

    monkeypatch.setattr(distributed, "LocalCluster", fake_cluster)
    with pytest.raises(Recorded), distributed._client(DistributedConfig(workers=1), 2**20):
        pass
    assert seen["dashboard_address"] is None


def test_a_run_in_which_no_block_finishes_stops_after_the_stall_timeout(job_files, tmp_path):
    volume, _ = job_files
    started = time.monotonic()
    with pytest.raises(VemRestoreError, match="no block finished in 2 s.*rerun to resume"):
        restore_blocks(
            volume,
            tmp_path / "out.zarr",
            Checkpoint(Hung(), NormalizationConfig()),
            distributed=DistributedConfig(
                workers=1, block=(1, 32, 32), chunks=(1, 32, 32), stall_timeout_s=2
            ),
        )
    assert time.monotonic() - started < 25, "the hung worker must not hold the run"


def test_ctrl_c_in_a_block_run_is_one_line_and_exit_130(tmp_path):
    """Ctrl-C reaches the whole process group, Dask workers included: no worker tracebacks."""
    volume = np.random.default_rng(0).integers(0, 256, (16, 256, 256), dtype=np.uint8)
    zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=volume.shape, dtype=np.uint8)[:] = (
        volume
    )
    command = [sys.executable, "-m", "vemrestore", "denoise", str(tmp_path / "in.zarr")]
    command += [str(tmp_path / "out.zarr"), "--block", "1,128,128", "--chunks", "1,128,128"]
    command += ["--workers", "2", "--threads", "1"]
    run = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, start_new_session=True, env=os.environ
    )
    blocks = tmp_path / "out.zarr" / "0" / "c"
    deadline = time.monotonic() + 120
    while not blocks.exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)  # until the workers have started and written a first block
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    assert "interrupted: finished blocks are kept" in stderr

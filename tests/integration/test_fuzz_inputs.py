"""Seeded fuzzing of every file vemrestore reads: each outcome is a success or a
``VemRestoreError``, never another exception, a hang or a big allocation.

Small valid files (TIFF stacks of several layouts, a PNG slice folder, an OME-Zarr, a
bioimage.io package, a training config) are mutated: header bytes flipped, tag values set
to extremes, files truncated, metadata fields replaced by wrong types and absurd numbers.
The cases run in a child process whose data segment is capped (``RLIMIT_DATA``), so an
allocation of the size a hostile header asks for fails there as a ``MemoryError`` and is
counted as a crash. The child must finish within ``CPU_LIMIT_S`` of CPU time (measured, so a
loaded machine does not fail the test) and ``HANG_LIMIT_S`` of wall time; the seed and case
counts are printed in pytest's summary.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
from pathlib import Path

SEED = 20261129
TIFF_CASES = 480
OTHER_CASES = 60  # per other kind of file
MEMORY_CAP = 3 * 2**30
CPU_LIMIT_S = 60
HANG_LIMIT_S = 600


def test_fuzzed_inputs_give_success_or_one_clear_error(tmp_path, report_line):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.run(
        [sys.executable, __file__, str(SEED), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT_S,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    counts = {kind: sum(outcomes.values()) for kind, outcomes in result["outcomes"].items()}
    report_line(
        f"fuzz: seed {SEED}, {sum(counts.values())} cases in {elapsed:.0f} s CPU: "
        + ", ".join(f"{kind} {n} ({result['outcomes'][kind]})" for kind, n in counts.items())
        + f"; crashes {len(result['crashes'])}"
    )
    assert counts["tiff"] >= 400
    assert result["crashes"] == [], result["crashes"][:10]
    assert elapsed < CPU_LIMIT_S


# ---- the child process -------------------------------------------------------------------


def _tiff_bases(folder: Path) -> list[Path]:
    import numpy as np
    import tifffile

    rng = np.random.default_rng(0)
    bases = {
        "imagej_u8.tif": (rng.integers(0, 255, (4, 16, 16), dtype=np.uint8), {"imagej": True}),
        "zlib_u16.tif": (
            rng.integers(0, 65535, (3, 16, 16), dtype=np.uint16),
            {"compression": "zlib"},
        ),
        "plane_f32.tif": (rng.random((16, 16), dtype=np.float32), {}),
        "big_u8.tif": (rng.integers(0, 255, (2, 16, 16), dtype=np.uint8), {"bigtiff": True}),
        "tiled_u8.tif": (
            rng.integers(0, 255, (2, 32, 32), dtype=np.uint8),
            {"tile": (16, 16), "compression": "zlib"},
        ),
    }
    paths = []
    for name, (data, options) in bases.items():
        path = folder / name
        tifffile.imwrite(path, data, photometric="minisblack", **options)
        paths.append(path)
    return paths


def _tag_offsets(path: Path) -> list[tuple[int, int]]:
    """(byte offset, byte count) of each tag value of the first page, to mutate precisely."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return [(tag.valueoffset, min(tag.count * 8, 8)) for tag in tif.pages.first.tags]


EXTREMES = (0, 1, 2, 255, 0xFFFF, 100_000, 0x7FFFFFFF, 0xFFFFFFFF)


def _mutate_bytes(data: bytes, rng: random.Random, tags: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # a few random bytes anywhere in the first 512
        for _ in range(rng.randint(1, 8)):
            buffer[rng.randrange(min(512, len(buffer)))] = rng.randrange(256)
    elif kind == 1 and tags:  # a tag value set to an extreme
        offset, size = rng.choice(tags)
        value = rng.choice(EXTREMES)
        width = rng.choice([2, 4, 8][: max(1, size // 2)])
        encoded = (value % (1 << (8 * width))).to_bytes(width, "little")
        buffer[offset : offset + width] = encoded
    elif kind == 2:  # truncated
        del buffer[rng.randrange(8, len(buffer)) :]
    else:  # random bytes anywhere
        for _ in range(rng.randint(1, 32)):
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    return bytes(buffer)


def _read_all(path: Path) -> str:
    from vemrestore.io import describe, open_volume

    with open_volume(path) as reader:
        reader.read(slice(None))
        describe(reader)
    return "ok"


def _json_mutation(value, rng: random.Random):
    """Replace one random leaf or list of a JSON tree by a wrong type or absurd number."""
    odd = ["text", -1, 0, 1e308, float("nan"), None, [], {}, [0, 0, 0], 2**62, True]
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        if rng.random() < 0.3:
            value[key] = rng.choice(odd)
        else:
            value[key] = _json_mutation(value[key], rng)
        return value
    if isinstance(value, list) and value:
        index = rng.randrange(len(value))
        value[index] = _json_mutation(value[index], rng) if rng.random() < 0.6 else rng.choice(odd)
        return value
    return rng.choice(odd)


def _zarr_cases(folder: Path, rng: random.Random, count: int):
    import shutil

    import numpy as np

    from vemrestore.io import VolumeSpec, write_volume

    base = folder / "base.zarr"
    data = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    write_volume(base, iter(data), VolumeSpec(data.shape, data.dtype, (30.0, 4.0, 4.0)))
    documents = sorted(base.rglob("zarr.json"))
    for index in range(count):
        case = folder / f"z{index}.zarr"
        shutil.copytree(base, case)
        target = case / rng.choice(documents).relative_to(base)
        tree = json.loads(target.read_text())
        target.write_text(json.dumps(_json_mutation(tree, rng)))
        yield case, lambda path=case: _read_all(path)


def _png_cases(folder: Path, rng: random.Random, count: int):
    import shutil

    import imageio.v3 as iio
    import numpy as np

    base = folder / "pngs"
    base.mkdir()
    for z in range(3):
        iio.imwrite(base / f"s{z}.png", np.full((16, 16), 40 * z, np.uint8))
    for index in range(count):
        case = folder / f"p{index}"
        shutil.copytree(base, case)
        victim = case / f"s{rng.randrange(3)}.png"
        victim.write_bytes(_mutate_bytes(victim.read_bytes(), rng, []))
        yield case, lambda path=case: _read_all(path)


def _package_cases(folder: Path, rng: random.Random, count: int):
    import zipfile

    import yaml

    def axis(name: str, size) -> dict:
        return {"type": "space", "id": name, "size": size}

    tensor = {
        "id": "raw",
        "axes": [{"type": "batch"}, axis("z", 3), *(axis(a, {"min": 8, "step": 8}) for a in "yx")],
        "data": {"type": "uint8"},
        "preprocessing": [{"id": "scale_linear", "kwargs": {"gain": 1 / 255}}],
    }
    rdf = dict(
        type="model",
        format_version="0.5.4",
        name="fuzz",
        inputs=[tensor],
        outputs=[{"id": "restored"}],
        weights={"onnx": {"source": "w.onnx"}, "torchscript": {"source": "w.pt"}},
        attachments=[{"source": "vemrestore_checkpoint.pt"}],
    )
    for index in range(count):
        case = folder / f"m{index}.zip"
        tree = _json_mutation(json.loads(json.dumps(rdf)), rng)
        with zipfile.ZipFile(case, "w") as archive:
            archive.writestr("rdf.yaml", yaml.safe_dump(tree))
            archive.writestr("w.onnx", bytes(rng.randrange(256) for _ in range(64)))
            archive.writestr("vemrestore_checkpoint.pt", b"PK\x03\x04 not a checkpoint")
        if rng.random() < 0.3:
            case.write_bytes(_mutate_bytes(case.read_bytes(), rng, []))

        def load(path=case) -> str:
            from vemrestore.model_io.files import load_checkpoint

            load_checkpoint(path)  # untrusted: TorchScript is never loaded here
            return "ok"

        yield case, load


def _config_cases(folder: Path, rng: random.Random, count: int):
    from vemrestore.config.training_yaml import DEFAULT_CONFIG_YAML, load_training_config

    for index in range(count):
        case = folder / f"c{index}.yaml"
        text = DEFAULT_CONFIG_YAML.encode()
        if rng.random() < 0.5:
            import yaml

            tree = yaml.safe_load(text) or {"model": {"name": "unet2p5d"}}
            text = yaml.safe_dump(_json_mutation(tree, rng)).encode()
        else:
            text = _mutate_bytes(text, rng, [])
        case.write_bytes(text)
        yield case, lambda path=case: (load_training_config(path).resolved(), "ok")[1]


def _child(seed: int, folder: Path) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_CAP, MEMORY_CAP))
    from vemrestore.errors import VemRestoreError

    rng = random.Random(seed)
    cases = []
    for base in _tiff_bases(folder):
        tags, original = _tag_offsets(base), base.read_bytes()
        for index in range(TIFF_CASES // 5):
            path = folder / f"t{index}_{base.name}"
            path.write_bytes(_mutate_bytes(original, rng, tags))
            cases.append(("tiff", path, lambda path=path: _read_all(path)))
    for kind, generate in (
        ("zarr", _zarr_cases),
        ("png", _png_cases),
        ("bioimageio", _package_cases),
        ("config", _config_cases),
    ):
        cases += [(kind, path, run) for path, run in generate(folder, rng, OTHER_CASES)]
    outcomes: dict[str, dict[str, int]] = {}
    crashes = []
    for kind, path, run in cases:
        try:
            outcome = run()
        except VemRestoreError:
            outcome = "refused"
        except Exception as error:  # what the test is looking for
            outcome = "crash"
            crashes.append(f"{kind} {path.name}: {type(error).__name__}: {error}"[:300])
        outcomes.setdefault(kind, {}).setdefault(outcome, 0)
        outcomes[kind][outcome] += 1
    print(json.dumps({"outcomes": outcomes, "crashes": crashes}))


if __name__ == "__main__":
    import logging
    import warnings

    logging.disable(logging.CRITICAL)  # tifffile logs about the damage it finds
    warnings.simplefilter("ignore")
    _child(int(sys.argv[1]), Path(sys.argv[2]))

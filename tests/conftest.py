import numpy as np
import pytest
import torch
from torch import nn


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests are opt-in (``--runslow``), so the default suite stays fast."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


class RandomConv3d(nn.Module):
    """A random-weight 2.5D model with a receptive field of ±2 voxels along every axis.

    Any tiling whose halo (overlap // 4) is at least 2 must reproduce its whole-volume output.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.Sequential(
            nn.Conv3d(1, 6, 3, padding=1), nn.Tanh(), nn.Conv3d(6, 1, 3, padding=1)
        )
        self.window = 5
        self.accepts_any_window = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x.unsqueeze(1)).squeeze(1)


@pytest.fixture
def random_conv_model() -> nn.Module:
    return RandomConv3d().eval()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _phantom_pair(
    shape: tuple[int, int, int] = (16, 128, 128), seed: int = 0, photons: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """(fast, slow) float32 volumes in 0..1 of one smooth phantom: Poisson-Gaussian noise on the
    fast scan (about 18 dB PSNR at 20 photons), 16× more photons on the slow one."""
    generator = np.random.default_rng(seed)
    spectrum = np.fft.fftn(generator.normal(size=shape))
    frequencies = np.meshgrid(*(np.fft.fftfreq(n) for n in shape), indexing="ij")
    widths = (0.15, 0.06, 0.06)  # cycles/voxel: smooth in-plane, smoother along z
    radius2 = sum((f / w) ** 2 for f, w in zip(frequencies, widths, strict=True))
    field = np.real(np.fft.ifftn(spectrum * np.exp(-radius2)))
    clean = 0.15 + 0.7 * (field - field.min()) / (field.max() - field.min())

    def scan(photon_count: float) -> np.ndarray:
        noisy = generator.poisson(clean * photon_count) / photon_count
        noisy = noisy + generator.normal(0.0, 0.02, shape)
        return np.clip(noisy, 0.0, 1.0).astype(np.float32)

    return scan(photons), scan(16 * photons)


@pytest.fixture
def phantom_pair():
    """Factory of seeded synthetic (fast, slow) pairs: ``phantom_pair(shape, seed)``."""
    return _phantom_pair


_SUMMARY_LINES: list[str] = []


@pytest.fixture
def report_line():
    """Lines a test wants shown in pytest's summary (e.g. the fuzz test's seed and counts)."""
    return _SUMMARY_LINES.append


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _SUMMARY_LINES:
        terminalreporter.write_line(line)


@pytest.fixture
def one_thread():
    """Two threads on a shared 2-core machine spin against each other; one is faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

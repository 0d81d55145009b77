"""The model contract, checked for every registered network (``list_models()``).

forward: (B, D, H, W) float32 → same shape, any H and W; batch items independent; trainable;
deterministic in eval mode; rebuildable from a checkpoint; scriptable with TorchScript.
Most checks use narrow variants (``SMALL_PARAMS``) so the module runs in seconds on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vemrestore.config import NormalizationConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models import create_model, list_models
from vemrestore.models.unet2p5d import BLEND_SIGMAS

SMALL_PARAMS: dict[str, dict[str, int]] = {
    "unet2p5d": {"base_channels": 8, "depth": 3},
    "gshift": {
        "full_res_channels": 8,
        "channels": 24,
        "encoder_blocks": 1,
        "middle_blocks": 2,
        "decoder_blocks": 1,
    },
}

# (name, bad parameters) pairs every constructor must refuse with a ValueError.
INVALID_PARAMS = [(name, {"window": 0}) for name in list_models()] + [
    ("unet2p5d", {"base_channels": 0}),
    ("unet2p5d", {"depth": 0}),
    ("unet2p5d", {"depth": 3.0}),
    ("unet2p5d", {"gaussian_blend": 1.5}),
    ("unet2p5d", {"gaussian_blend": True}),
    ("gshift", {"channels": 16}),
    ("gshift", {"middle_blocks": 0}),
    ("gshift", {"full_res_channels": True}),
]

models = pytest.mark.parametrize("name", list_models())


def small_model(name: str, window: int) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, window=window, **SMALL_PARAMS.get(name, {}))


def windows(batch: int, depth: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, depth, height, width, generator=torch.Generator().manual_seed(seed))


def require_parameters(model: nn.Module, name: str) -> None:
    if not any(True for _ in model.parameters()):
        pytest.skip(f"{name} has no parameters: nothing to train or to restore from weights")


@models
def test_default_model_keeps_shape_and_is_finite(name):
    model = create_model(name).eval()
    x = windows(1, model.window, 37, 45)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.isfinite(y).all()


@models
@pytest.mark.parametrize("depth, height, width", [(5, 37, 45), (1, 13, 10), (3, 1, 1)])
def test_odd_sizes_keep_shape_without_nan(name, depth, height, width):
    model = small_model(name, depth).eval()
    x = windows(2, depth, height, width)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@models
def test_backward_gives_finite_gradients(name):
    model = small_model(name, 3).train()
    require_parameters(model, name)
    x = windows(2, 3, 20, 24)
    target = windows(2, 3, 20, 24, seed=1)
    nn.functional.mse_loss(model(x), target).backward()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    assert gradients, "no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in gradients)
    assert any(g.abs().sum() > 0 for g in gradients)


@models
def test_batch_of_two_equals_items_run_separately(name):
    model = small_model(name, 5).eval()
    x = windows(2, 5, 24, 28)
    with torch.inference_mode():
        together = model(x)
        separate = torch.cat([model(x[:1]), model(x[1:])])
    torch.testing.assert_close(together, separate, atol=1e-5, rtol=0)


@models
def test_eval_mode_is_deterministic(name):
    model = small_model(name, 3).eval()
    x = windows(1, 3, 21, 19)
    with torch.inference_mode():
        assert torch.equal(model(x), model(x))


@models
def test_checkpoint_round_trip_gives_equal_outputs(name, tmp_path):
    model = small_model(name, 3).eval()
    path = tmp_path / f"{name}.pt"
    save_checkpoint(path, model, NormalizationConfig())
    loaded = load_checkpoint(path).model
    assert loaded.model_name == name and loaded.window == 3
    x = windows(1, 3, 18, 22)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


@models
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_script_matches_eager_at_any_size(name):
    """``torch.jit.script`` (not trace): the scripted model must stay valid for other sizes."""
    model = small_model(name, 3).eval()
    scripted = torch.jit.script(model)
    with torch.inference_mode():
        for x in (windows(1, 3, 16, 16), windows(2, 3, 23, 17)):
            torch.testing.assert_close(scripted(x), model(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, params", INVALID_PARAMS)
def test_invalid_parameter_values_are_refused(name, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        create_model(name, **params)


def test_unet2p5d_refuses_a_window_it_was_not_built_for():
    model = small_model("unet2p5d", 5)
    with pytest.raises(ValueError, match="built for 5 slices, got 3"):
        model(windows(1, 3, 8, 8))


def test_unet2p5d_gaussian_blend_mixes_the_network_with_a_fitted_gaussian():
    """Same weights as the plain network; the output moves towards the Gaussian of the input
    (from ``BLEND_SIGMAS``) that is closest to the network's own output."""
    from scipy import ndimage

    torch.manual_seed(0)
    plain = create_model("unet2p5d", window=1, base_channels=8, depth=3).eval()
    blended = create_model(
        "unet2p5d", window=1, base_channels=8, depth=3, gaussian_blend=0.4
    ).eval()
    assert blended.state_dict().keys() == plain.state_dict().keys()
    blended.load_state_dict(plain.state_dict())
    x = windows(2, 1, 48, 56)
    with torch.no_grad():
        network, mixed = plain(x), blended(x)
        assert torch.equal(torch.jit.script(blended)(x), mixed)
    fitted = (mixed - 0.6 * network) / 0.4
    for index in range(2):
        candidates = {
            sigma: ndimage.gaussian_filter(x[index, 0].numpy(), sigma, mode="nearest")
            for sigma in BLEND_SIGMAS
        }
        inner = np.s_[10:-10, 10:-10]  # the edges are replicated at another distance
        closest = min(
            BLEND_SIGMAS,
            key=lambda s: np.mean((candidates[s] - network[index, 0].numpy())[inner] ** 2),
        )
        assert np.abs(fitted[index, 0].numpy() - candidates[closest])[inner].max() < 1e-3

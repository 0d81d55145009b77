"""Restoration networks: plain ``nn.Module``s that know nothing of files or training."""

from vemrestore.models import gshift, identity, unet2p5d  # noqa: F401  (register the networks)
from vemrestore.models.registry import accepted_params, create_model, list_models, register_model

__all__ = ["accepted_params", "create_model", "list_models", "register_model"]

"""Restoration networks: plain ``nn.Module``s that know nothing of files or training."""

from vemrestore.models import identity  # noqa: F401  (registers the network)
from vemrestore.models.registry import accepted_params, create_model, list_models, register_model

__all__ = ["accepted_params", "create_model", "list_models", "register_model"]

"""Model registry: build any restoration network from its name and parameters alone.

A checkpoint stores ``(name, params)``; inference calls ``create_model(name, **params)`` and
loads the weights, so no code travels inside checkpoints.

Model contract (checked by the contract tests for every registered model):
``forward(x)`` takes ``x`` of shape (B, D, H, W) float32 (a batch of windows of D consecutive
normalised slices) and returns the restored windows with the same shape. ``model.window`` is
the number of slices D the model was built for; the engine uses it as the default tile depth.
A model that also runs on other slice counts sets ``accepts_any_window = True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

ModelT = TypeVar("ModelT", bound=type[nn.Module])

_REGISTRY: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[ModelT], ModelT]:
    """Class decorator that makes a network available to ``create_model`` under ``name``."""

    def add(cls: ModelT) -> ModelT:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return add


def list_models() -> list[str]:
    """Names of all registered networks, sorted."""
    return sorted(_REGISTRY)


def accepted_params(name: str) -> list[str]:
    """Constructor parameters of a registered network (what a config may set)."""
    cls = _get(name)
    signature = inspect.signature(cls.__init__)
    return [p for p in signature.parameters if p != "self"]


def create_model(name: str, **params: Any) -> nn.Module:
    """Build network ``name`` with ``params``; unknown parameters are an error, not ignored.

    The returned module has ``model_name`` and ``model_params`` attributes, which is all a
    checkpoint needs to rebuild it.
    """
    cls = _get(name)
    unknown = sorted(set(params) - set(accepted_params(name)))
    if unknown:
        raise ValueError(
            f"model {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted_params(name)) or 'none'}"
        )
    model = cls(**params)
    model.model_name = name
    model.model_params = dict(params)
    return model


def _get(name: str) -> type[nn.Module]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _REGISTRY[name]

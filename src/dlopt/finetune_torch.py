"""LoRA for ``torch.nn.Linear``: the torch twin of :class:`dlopt.finetune.LoRALinear`.

A module of its own because it imports torch, which :mod:`dlopt.finetune` does not need:
the NumPy helpers load without paying torch's import.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlopt.finetune import lora_A_init, lora_scaling

__all__ = ["TorchLoRALinear"]


class TorchLoRALinear(torch.nn.Module):
    """:class:`~dlopt.finetune.LoRALinear` for a ``torch.nn.Linear`` base, trained by autograd.

    ``base.requires_grad_(False)`` is applied to the module passed in; ``lora_A`` is
    drawn from ``rng`` exactly as in :class:`~dlopt.finetune.LoRALinear` (so both classes start from
    the same numbers for the same seed) and ``lora_B`` is zeros.
    """

    def __init__(
        self, base: torch.nn.Linear, r: int, alpha: float = 1.0, *, rng: np.random.Generator
    ):
        super().__init__()
        if not isinstance(base, torch.nn.Linear):
            raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        self.r, self.scaling = lora_scaling(base.in_features, base.out_features, r, alpha)
        self.alpha = float(alpha)
        self.base = base.requires_grad_(False)
        like = {"dtype": base.weight.dtype, "device": base.weight.device}
        a = lora_A_init(self.r, base.in_features, rng=rng)
        self.lora_A = torch.nn.Parameter(torch.as_tensor(a).to(**like))
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, self.r, **like))

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * F.linear(F.linear(x, self.lora_A), self.lora_B)

    @torch.no_grad()
    def merge(self) -> torch.nn.Linear:
        """A new ``torch.nn.Linear`` with weight :math:`W + s\\,BA` (base untouched)."""
        base = self.base
        merged = torch.nn.utils.skip_init(  # skip_init: no draw from torch's global RNG
            torch.nn.Linear,
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            dtype=base.weight.dtype,
            device=base.weight.device,
        )
        merged.weight.copy_(base.weight + self.scaling * (self.lora_B @ self.lora_A))
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged

"""dlopt.finetune: LoRA against torch autograd, freezing, discriminative LRs, gradual unfreezing."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch

from dlopt import layers as L
from dlopt import optim_numpy
from dlopt.finetune import (
    LoRALinear,
    discriminative_lr_groups,
    freeze,
    gradual_unfreezing,
    parameter_count,
    trainable_parameter_count,
    unfreeze,
)
from dlopt.finetune_torch import TorchLoRALinear

RTOL, ATOL = 1e-10, 1e-12


def make_lora(seed=0, n_in=6, n_out=4, r=2, alpha=3.0, bias=True):
    rng = np.random.default_rng(seed)
    base = L.Linear(n_in, n_out, bias=bias, rng=rng)
    return LoRALinear(base, r, alpha, rng=rng), rng


def torch_lora_reference(lora: LoRALinear, x: np.ndarray, g: np.ndarray):
    """y = x W^T + b + (alpha/r) (x A^T) B^T written out in torch, and its autograd gradients."""
    t = {name: torch.tensor(value, requires_grad=True) for name, value in lora.named_parameters()}
    x_t = torch.tensor(x, requires_grad=True)
    y = x_t @ t["base.weight"].T + (lora.alpha / lora.r) * (x_t @ t["lora_A"].T) @ t["lora_B"].T
    if "base.bias" in t:
        y = y + t["base.bias"]
    y.backward(torch.from_numpy(g))
    return y.detach().numpy(), x_t.grad.numpy(), {n: v.grad.numpy() for n, v in t.items()}


# --------------------------------------------------------------------------- NumPy LoRA


def test_lora_starts_as_the_base_layer_because_B_is_zero():
    lora, rng = make_lora()
    x = rng.standard_normal((5, 6))
    assert not lora.params["lora_B"].any()
    np.testing.assert_array_equal(lora(x), lora.base(x))


@pytest.mark.parametrize("bias", [True, False])
def test_lora_forward_and_gradients_match_autograd(bias):
    lora, rng = make_lora(seed=1, bias=bias)
    lora.params["lora_B"][...] = rng.standard_normal(lora.params["lora_B"].shape)
    x = rng.standard_normal((3, 5, 6))  # extra leading axis, as nn.Linear allows
    y = lora(x)
    g = rng.standard_normal(y.shape)
    y_ref, grad_x_ref, grads_ref = torch_lora_reference(lora, x, g)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lora.backward(g), grad_x_ref, rtol=RTOL, atol=ATOL)
    for name in ("lora_A", "lora_B"):
        np.testing.assert_allclose(lora.grads[name], grads_ref[name], rtol=RTOL, atol=ATOL)
    # the base is frozen: its gradients are neither computed nor handed to the optimizer
    assert not lora.base.grads["weight"].any()
    assert [p.shape for p in lora.parameters()] == [(2, 6), (4, 2)]


def test_lora_merged_linear_gives_the_same_outputs_and_leaves_the_base_untouched():
    lora, rng = make_lora(seed=2)
    lora.params["lora_B"][...] = rng.standard_normal(lora.params["lora_B"].shape)
    base_weight = lora.base.params["weight"].copy()
    merged = lora.merge()
    x = rng.standard_normal((7, 6))
    assert isinstance(merged, L.Linear) and merged is not lora.base
    np.testing.assert_allclose(merged(x), lora(x), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(lora.base.params["weight"], base_weight)
    assert not merged.frozen and len(merged.parameters()) == 2


def test_lora_A_has_the_distribution_of_torch_kaiming_uniform_with_a_sqrt5():
    n_in, r = 256, 16
    lora = LoRALinear(
        L.Linear(n_in, 64, rng=np.random.default_rng(3)), r, rng=np.random.default_rng(4)
    )
    reference = torch.empty(r, n_in, dtype=torch.float64)
    torch.nn.init.kaiming_uniform_(
        reference, a=math.sqrt(5), generator=torch.Generator().manual_seed(0)
    )
    a = lora.params["lora_A"]
    assert np.abs(a).max() <= 1 / math.sqrt(n_in)
    assert scipy.stats.ks_2samp(a.ravel(), reference.numpy().ravel()).pvalue > 1e-3


@pytest.mark.parametrize("n_in, n_out, r", [(6, 4, 1), (6, 4, 3), (10, 20, 8)])
def test_lora_trains_r_times_in_plus_out_parameters(n_in, n_out, r):
    lora, _ = make_lora(n_in=n_in, n_out=n_out, r=r)
    assert trainable_parameter_count(lora) == r * (n_in + n_out)
    assert parameter_count(lora) == n_in * n_out + n_out + r * (n_in + n_out)
    torch_lora = TorchLoRALinear(torch.nn.Linear(n_in, n_out), r, rng=np.random.default_rng(0))
    assert sum(p.numel() for p in torch_lora.parameters() if p.requires_grad) == r * (n_in + n_out)
    assert trainable_parameter_count(torch_lora) == r * (n_in + n_out)
    assert parameter_count(torch_lora) == parameter_count(lora)


def test_lora_names_its_parameters_like_the_torch_version():
    lora, _ = make_lora()
    torch_lora = TorchLoRALinear(torch.nn.Linear(6, 4), 2, rng=np.random.default_rng(0))
    assert [n for n, _ in lora.named_parameters()] == [n for n, _ in torch_lora.named_parameters()]


@pytest.mark.parametrize(
    "r, alpha, error, match",
    [
        (0, 1.0, ValueError, "r"),
        (5, 1.0, ValueError, r"r <= min"),
        (1.5, 1.0, TypeError, "r"),
        (2, 0.0, ValueError, "alpha"),
    ],
)
def test_lora_validates_rank_and_alpha(r, alpha, error, match):
    base = L.Linear(6, 4, rng=np.random.default_rng(0))
    with pytest.raises(error, match=match):
        LoRALinear(base, r, alpha, rng=np.random.default_rng(0))
    with pytest.raises(error, match=match):
        TorchLoRALinear(torch.nn.Linear(6, 4), r, alpha, rng=np.random.default_rng(0))


def test_lora_requires_a_linear_base_and_a_generator():
    with pytest.raises(TypeError, match="dlopt.layers.Linear"):
        LoRALinear(torch.nn.Linear(2, 2), 1, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="torch.nn.Linear"):
        TorchLoRALinear(
            L.Linear(2, 2, rng=np.random.default_rng(0)), 1, rng=np.random.default_rng(0)
        )
    with pytest.raises(TypeError, match="rng"):
        LoRALinear(L.Linear(2, 2, rng=np.random.default_rng(0)), 1, rng=None)
    lora, _ = make_lora()
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 6\)"):
        lora(np.ones((2, 4)))


# --------------------------------------------------------------------------- torch LoRA


def test_torch_lora_matches_numpy_lora_forward_backward_and_merge():
    lora, rng = make_lora(seed=5)
    base = torch.nn.Linear(6, 4, dtype=torch.float64)
    with torch.no_grad():
        base.weight.copy_(torch.from_numpy(lora.base.params["weight"]))
        base.bias.copy_(torch.from_numpy(lora.base.params["bias"]))
    torch_lora = TorchLoRALinear(base, 2, 3.0, rng=np.random.default_rng(0))
    with torch.no_grad():
        torch_lora.lora_A.copy_(torch.from_numpy(lora.params["lora_A"]))
    x = rng.standard_normal((5, 6))
    np.testing.assert_allclose(torch_lora(torch.from_numpy(x)).detach().numpy(), lora(x), rtol=RTOL)
    new_B = rng.standard_normal((4, 2))
    lora.params["lora_B"][...] = new_B
    with torch.no_grad():
        torch_lora.lora_B.copy_(torch.from_numpy(new_B))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = torch_lora(x_t)
    g = rng.standard_normal((5, 4))
    y_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y_t.detach().numpy(), lora(x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(x_t.grad.numpy(), lora.backward(g), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        torch_lora.lora_A.grad.numpy(), lora.grads["lora_A"], rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        torch_lora.lora_B.grad.numpy(), lora.grads["lora_B"], rtol=RTOL, atol=ATOL
    )
    assert base.weight.grad is None and base.bias.grad is None  # frozen
    merged = torch_lora.merge()
    assert isinstance(merged, torch.nn.Linear) and merged.weight.requires_grad
    np.testing.assert_allclose(
        merged.weight.detach().numpy(), lora.merge().params["weight"], rtol=RTOL
    )
    with torch.no_grad():
        np.testing.assert_allclose(merged(x_t).numpy(), y_t.detach().numpy(), rtol=RTOL, atol=ATOL)


def test_torch_lora_starts_as_its_base_and_same_seed_gives_the_numpy_A():
    base = torch.nn.Linear(5, 3, dtype=torch.float64)
    torch_lora = TorchLoRALinear(base, 2, rng=np.random.default_rng(6))
    x = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(torch_lora(x), base(x), rtol=0, atol=0)
    numpy_lora = LoRALinear(
        L.Linear(5, 3, rng=np.random.default_rng(0)), 2, rng=np.random.default_rng(6)
    )
    np.testing.assert_array_equal(torch_lora.lora_A.detach().numpy(), numpy_lora.params["lora_A"])


def test_torch_lora_trains_only_the_adapter_with_a_torch_optimizer():
    base = torch.nn.Linear(4, 3, dtype=torch.float64)
    before = base.weight.detach().clone()
    torch_lora = TorchLoRALinear(base, 2, rng=np.random.default_rng(7))
    trainable = [p for p in torch_lora.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trainable, lr=0.1)
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        opt.zero_grad()
        torch_lora(x).pow(2).sum().backward()
        opt.step()
    torch.testing.assert_close(base.weight, before, rtol=0, atol=0)
    assert torch_lora.lora_B.abs().sum() > 0  # B moved away from 0 (A got gradient after that)


# --------------------------------------------------------------------------- freezing


def test_freeze_and_unfreeze_recurse_into_numpy_containers():
    rng = np.random.default_rng(8)
    net = L.Sequential(L.Linear(3, 4, rng=rng), L.ReLU(), L.Sequential(L.Linear(4, 2, rng=rng)))
    assert freeze(net) is net
    assert all(m.frozen for m in (net, net[0], net[1], net[2], net[2][0]))
    assert net.parameters() == [] and trainable_parameter_count(net) == 0
    assert parameter_count(net) == 3 * 4 + 4 + 4 * 2 + 2
    unfreeze(net[2])
    assert trainable_parameter_count(net) == 4 * 2 + 2 and not net[2][0].frozen
    unfreeze(net)
    assert trainable_parameter_count(net) == parameter_count(net)


def test_freeze_sets_requires_grad_on_torch_modules_and_counts_match_torch():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    freeze(net[0])
    assert not any(p.requires_grad for p in net[0].parameters())
    assert trainable_parameter_count(net) == sum(p.numel() for p in net[2].parameters())
    assert parameter_count(net) == sum(p.numel() for p in net.parameters())
    unfreeze(net)
    assert all(p.requires_grad for p in net.parameters())


def test_freezing_helpers_reject_other_objects():
    with pytest.raises(TypeError, match="module must be"):
        freeze([np.ones(2)])
    with pytest.raises(TypeError, match="module must be"):
        parameter_count(np.ones(2))


# ------------------------------------------------------------------- discriminative learning rates


def test_discriminative_lrs_give_the_last_block_base_lr_and_divide_by_decay_going_down():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    blocks = [list(layer.parameters()) for layer in net]
    groups = discriminative_lr_groups(blocks, base_lr=0.01, decay=2.6)
    opt = torch.optim.SGD(groups, lr=1.0)  # torch accepts them as param groups
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 / 2.6**2, 0.01 / 2.6, 0.01])
    assert [g["params"] for g in opt.param_groups] == blocks


def test_discriminative_lrs_work_with_numpy_arrays_and_modules():
    rng = np.random.default_rng(9)
    net = L.Sequential(L.Linear(2, 3, rng=rng), L.ReLU(), L.Linear(3, 1, rng=rng))
    groups = discriminative_lr_groups([net[0], net[2].parameters()], base_lr=1e-3, decay=10)
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    assert all(a is b for a, b in zip(groups[0]["params"], net[0].parameters(), strict=True))
    assert groups[1]["params"] == net[2].parameters()


def test_frozen_blocks_get_no_group_and_the_groups_drive_a_numpy_optimizer():
    rng = np.random.default_rng(10)
    net = L.Sequential(L.Linear(2, 3, rng=rng), L.ReLU(), L.Linear(3, 1, rng=rng))
    freeze(net[0])
    groups = discriminative_lr_groups([net[0], net[2]], base_lr=1e-2, decay=10)
    assert [g["lr"] for g in groups] == pytest.approx([1e-2])
    opt = optim_numpy.SGD(groups, lr=1.0)  # an empty group would be rejected here
    assert opt.parameters() == net.parameters()


def test_discriminative_lrs_validate_arguments():
    p = [np.ones(2)]
    with pytest.raises(ValueError, match="blocks"):
        discriminative_lr_groups([], 0.1)
    with pytest.raises(ValueError, match="base_lr"):
        discriminative_lr_groups([p], -0.1)
    with pytest.raises(ValueError, match="decay"):
        discriminative_lr_groups([p], 0.1, decay=0.0)
    with pytest.raises(TypeError, match=r"blocks\[0\] must be a list of parameters"):
        discriminative_lr_groups([np.ones(3)], 0.1)


# --------------------------------------------------------------------------- gradual unfreezing


def test_gradual_unfreezing_unfreezes_one_more_top_block_per_epoch():
    rng = np.random.default_rng(10)
    blocks = [L.Linear(2, 2, rng=rng) for _ in range(3)]
    expected = {
        0: [True, True, False],
        1: [True, False, False],
        2: [False, False, False],
        5: [False] * 3,
    }
    for epoch, frozen in expected.items():
        assert gradual_unfreezing(blocks, epoch) == frozen.count(False)
        assert [b.frozen for b in blocks] == frozen


def test_gradual_unfreezing_every_two_epochs_and_on_torch_modules():
    blocks = [torch.nn.Linear(2, 2) for _ in range(3)]
    counts = [gradual_unfreezing(blocks, epoch, every=2) for epoch in range(6)]
    assert counts == [1, 1, 2, 2, 3, 3]
    gradual_unfreezing(blocks, 2, every=2)
    assert [b.weight.requires_grad for b in blocks] == [False, True, True]


def test_gradual_unfreezing_validates_arguments():
    blocks = [L.ReLU()]
    with pytest.raises(ValueError, match="epoch"):
        gradual_unfreezing(blocks, -1)
    with pytest.raises(ValueError, match="every"):
        gradual_unfreezing(blocks, 0, every=0)
    with pytest.raises(ValueError, match="blocks"):
        gradual_unfreezing([], 0)


def test_finetune_imports_without_torch_and_still_recognises_torch_modules():
    # a fresh interpreter: importing dlopt.finetune must not import torch (about 5 s a kernel)
    code = (
        "import sys\n"
        "import dlopt.finetune as ft, dlopt.layers as L, numpy as np\n"
        "assert 'torch' not in sys.modules, 'dlopt.finetune imported torch'\n"
        "layer = ft.freeze(L.Linear(2, 2, rng=np.random.default_rng(0)))\n"
        "assert ft.trainable_parameter_count(layer) == 0\n"
        "import torch\n"
        "lin = ft.freeze(torch.nn.Linear(2, 3))\n"
        "assert ft.parameter_count(lin) == 9 and ft.trainable_parameter_count(lin) == 0\n"
        "assert len(ft.discriminative_lr_groups([ft.unfreeze(lin)], 0.1)[0]['params']) == 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)

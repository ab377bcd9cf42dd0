"""Speed of the reference package relative to PyTorch, as ratios measured in one run.

    python benchmarks/speed.py            # a few minutes on 2 idle cores
    python benchmarks/speed.py NAdam Muon # only these optimizers, no epoch

1. Each ``dlopt.optim_torch`` optimizer's ``step()`` against its ``torch.optim``
   namesake, single-tensor (``foreach=False``) and ``foreach=True`` where torch
   has it, on an MLP of about a million parameters; Lion and the schedule-free
   optimizers against their reference packages (single-tensor paths). Target:
   within 1.2x of single-tensor. SparseAdam gets the gradients as sparse tensors,
   Muon only the weight matrices, LBFGS a closure that runs the MLP on a batch.
2. One epoch of a NumPy MLP (``dlopt.layers`` + ``dlopt.optim_numpy.SGD``)
   against the same MLP in torch on the CPU. Target: within 1.5x.

Timings interleave the contenders and keep the best of several rounds, which
cancels most of the noise of a shared machine; only the ratios are meaningful.
"""

from __future__ import annotations

import sys
import time

import lion_pytorch
import numpy as np
import schedulefree
import torch

from dlopt import layers, losses, optim_numpy, optim_torch

OPTIMIZERS = {
    "SGD": dict(lr=0.01, momentum=0.9),
    "Adagrad": dict(lr=0.01),
    "Adadelta": dict(),
    "RMSprop": dict(lr=1e-3),
    "Adam": dict(lr=1e-3),
    "AdamW": dict(lr=1e-3),
    "NAdam": dict(lr=1e-3),
    "RAdam": dict(lr=1e-3),
    "Adamax": dict(lr=1e-3),
    "ASGD": dict(lr=1e-3, t0=1),
    "Rprop": dict(lr=1e-3),
    "Adafactor": dict(lr=1e-3),
    "SparseAdam": dict(lr=1e-3),
    "Muon": dict(lr=1e-3),
    "LBFGS": dict(lr=0.1, max_iter=4, history_size=10),
    "Lion": dict(lr=1e-4),
    "SGDScheduleFree": dict(lr=0.1),
    "AdamWScheduleFree": dict(lr=1e-3),
}
REFERENCE = {
    "Lion": lion_pytorch.Lion,
    "SGDScheduleFree": schedulefree.SGDScheduleFree,
    "AdamWScheduleFree": schedulefree.AdamWScheduleFree,
}
NO_FOREACH = {"SparseAdam", "Muon", "LBFGS", "Lion"}  # torch (or the reference) has one path
SIZES = (784, 1024, 200, 10)  # 1,010,850 parameters


def torch_mlp(seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        mods.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def best_of(fns: dict, rounds: int = 7, repeat: int = 20) -> dict:
    """Best mean time per call of each function, interleaving them round by round."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / repeat)
    return best


def _stepper(name, module, extra):
    """A zero-argument function doing one ``step()`` of ``name`` from ``module``, state made."""
    model = torch_mlp()
    params = [p for p in model.parameters() if name != "Muon" or p.ndim == 2]
    if name in REFERENCE and module is torch.optim:
        cls = REFERENCE[name]
    else:
        cls = getattr(module, name)
    opt = cls(params, **OPTIMIZERS[name], **extra)
    if hasattr(opt, "train") and name.endswith("ScheduleFree"):
        opt.train()
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(p.shape, generator=gen) for p in params]
    if name == "LBFGS":
        x = torch.randn(64, SIZES[0], generator=gen)
        y = torch.randint(0, SIZES[-1], (64,), generator=gen)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        opt.step(closure)
        return lambda: opt.step(closure)
    for p, g in zip(params, grads):
        p.grad = g.to_sparse() if name == "SparseAdam" else g
    opt.step()  # create the state outside the timing
    return opt.step


def optimizer_steps(names=tuple(OPTIMIZERS)):
    print(
        f"Optimizer step on an MLP {SIZES} "
        f"({sum(p.numel() for p in torch_mlp().parameters()):,} parameters), float32"
    )
    print(
        f"{'optimizer':18s} {'dlopt':>9s} {'single':>9s} {'vs single':>10s} {'foreach':>10s} "
        f"{'vs foreach':>10s}"
    )
    for name in names:
        single = {} if name in NO_FOREACH else {"foreach": False}
        contenders = {"dlopt": (optim_torch, {}), "single": (torch.optim, single)}
        if name not in NO_FOREACH:
            contenders["foreach"] = (torch.optim, {"foreach": True})
        steps = {
            label: _stepper(name, module, extra) for label, (module, extra) in contenders.items()
        }
        heavy = name in ("LBFGS", "Muon")  # a closure with 4 iterations; 5 Newton-Schulz matmuls
        t = best_of(steps, rounds=5 if heavy else 7, repeat=2 if heavy else 20)
        foreach = (
            f"{t['foreach'] * 1e3:8.2f}ms {t['dlopt'] / t['foreach']:9.2f}x"
            if "foreach" in t
            else f"{'n/a':>10s} {'n/a':>10s}"
        )
        print(
            f"{name:18s} {t['dlopt'] * 1e3:8.2f}ms {t['single'] * 1e3:8.2f}ms "
            f"{t['dlopt'] / t['single']:9.2f}x {foreach}"
        )


def numpy_mlp(model: torch.nn.Sequential) -> layers.Sequential:
    """The same network in dlopt.layers, with the torch model's weights copied across."""
    rng = np.random.default_rng(0)
    mods = []
    for m in model:
        if isinstance(m, torch.nn.Linear):
            lin = layers.Linear(m.in_features, m.out_features, rng=rng, dtype=np.float32)
            lin.params["weight"][...] = m.weight.detach().numpy()
            lin.params["bias"][...] = m.bias.detach().numpy()
            mods.append(lin)
        else:
            mods.append(layers.ReLU())
    return layers.Sequential(*mods)


def mlp_epoch(n_samples=2048, batch_size=128):
    gen = np.random.default_rng(0)
    x = gen.normal(size=(n_samples, SIZES[0])).astype(np.float32)
    y = gen.integers(0, SIZES[-1], size=n_samples)
    tmodel = torch_mlp()
    nmodel = numpy_mlp(tmodel)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    nopt = optim_numpy.SGD(nmodel.parameters(), lr=0.01, momentum=0.9)
    tloss, nloss = torch.nn.CrossEntropyLoss(), losses.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_epoch():
        for i in range(0, n_samples, batch_size):
            topt.zero_grad()
            tloss(tmodel(xt[i : i + batch_size]), yt[i : i + batch_size]).backward()
            topt.step()

    def numpy_epoch():
        for i in range(0, n_samples, batch_size):
            nloss(nmodel(x[i : i + batch_size]), y[i : i + batch_size])
            nmodel.backward(nloss.backward())
            nopt.step(nmodel.gradients())

    t = best_of({"numpy": numpy_epoch, "torch": torch_epoch}, rounds=5, repeat=2)
    print(f"\nOne epoch of {n_samples} samples, batch {batch_size}, SGD with momentum, float32")
    print(
        f"dlopt NumPy MLP {t['numpy'] * 1e3:8.1f}ms   torch MLP {t['torch'] * 1e3:8.1f}ms   "
        f"ratio {t['numpy'] / t['torch']:.2f}x"
    )


if __name__ == "__main__":
    torch.set_num_threads(2)
    chosen = sys.argv[1:]
    unknown = set(chosen) - set(OPTIMIZERS)
    if unknown:
        sys.exit(f"unknown optimizer(s) {sorted(unknown)}; choose from {list(OPTIMIZERS)}")
    optimizer_steps(chosen or tuple(OPTIMIZERS))
    if not chosen:
        mlp_epoch()

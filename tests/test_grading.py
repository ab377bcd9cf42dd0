"""The grading helpers, without nbgrader: messages, the mistake recogniser, the sandbox.

The references are held to PyTorch (``torch.optim``, ``torch.optim.lr_scheduler``,
autograd through ``torch.nn.functional.mse_loss``); every catalogued mistake must
be recognised by name on visible and hidden cases, and every correct variant must
pass; the sandboxed runner must stop loops, allocations, imports of the reference,
and forged results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import lion_pytorch
import numpy as np
import pytest
import torch
from submissions.variants import VARIANTS

from dlopt.grading import references
from dlopt.grading.assignments import EXERCISES
from dlopt.grading.compare import Tolerance, first_mismatch
from dlopt.grading.mistakes import MISTAKES, Mistake
from dlopt.grading.tasks import encode, load_stand_ins, run_task
from dlopt.grading.verdicts import check, forbidden_reference, judge

STAND_INS = load_stand_ins()
COURSE_SOURCE = Path(__file__).resolve().parents[1] / "exercises" / "source"


def grade_in_process(name: str, fn, *, hidden: bool, seed=None):
    exercise = EXERCISES[name]
    cases = exercise.cases(hidden, seed=seed)
    return judge(exercise, cases, [run_task(c.task, fn, stand_ins=STAND_INS) for c in cases])


def compiled(mistake_or_source, name=None):
    if isinstance(mistake_or_source, Mistake):
        return mistake_or_source.function()
    return Mistake(name, "variant", "", mistake_or_source).function()


# --------------------------------------------------------------------------- references vs torch

TORCH_RULES = {
    "momentum_step": (
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9),
    ),
    "nesterov_step": (
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True),
        dict(lr=0.1, momentum=0.8),
    ),
    "rmsprop_step": (
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-3),
        dict(lr=0.01, alpha=0.9, eps=1e-3),
    ),
    "adam_step": (
        lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.95), eps=1e-4),
        dict(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-4),
    ),
    "adamw_step": (
        lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.8, 0.95), eps=1e-4, weight_decay=0.3),
        dict(lr=0.05, beta1=0.8, beta2=0.95, eps=1e-4, weight_decay=0.3),
    ),
    # large_models: Lion against its authors' package (lion-pytorch), Adafactor against torch
    "lion_step": (
        lambda p: lion_pytorch.Lion(p, lr=0.02, betas=(0.85, 0.97), weight_decay=0.5),
        dict(lr=0.02, beta1=0.85, beta2=0.97, weight_decay=0.5),
    ),
    "adafactor_step": (
        lambda p: torch.optim.Adafactor(
            p, lr=0.05, beta2_decay=-0.7, eps=(1e-12, 1e-3), d=1.0, weight_decay=0.1
        ),
        dict(lr=0.05, beta2_decay=-0.7, eps1=1e-12, eps2=1e-3, d=1.0, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(TORCH_RULES))
def test_reference_rule_matches_torch_optim_float64(name):
    make, hyper = TORCH_RULES[name]
    rng = np.random.default_rng(0)
    param = rng.standard_normal((3, 2))
    t = torch.tensor(param.copy(), requires_grad=True)
    opt, state = make([t]), {}
    for _ in range(30):
        grad = rng.standard_normal((3, 2))
        references.REFERENCES[name](param, grad, state, **hyper)
        t.grad = torch.tensor(grad)
        opt.step()
    np.testing.assert_allclose(param, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_reference_schedule_matches_torch_sequential_warmup_and_cosine():
    W, T, base, eta_min = 4, 15, 0.3, 0.01
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = torch.optim.lr_scheduler.SequentialLR(
        opt,
        [
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / (W + 1), total_iters=W),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T - W, eta_min=eta_min),
        ],
        milestones=[W],
    )
    for t in range(T + 1):
        ours = references.warmup_cosine_lr(
            t, base_lr=base, warmup_steps=W, total_steps=T, eta_min=eta_min
        )
        assert ours == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()
    assert (
        references.warmup_cosine_lr(
            T + 7, base_lr=base, warmup_steps=W, total_steps=T, eta_min=eta_min
        )
        == eta_min
    )


def test_reference_sgd_epoch_matches_torch_sgd_on_mse_loss():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((23, 3)), rng.standard_normal(23)
    w0, b0 = rng.standard_normal(3), 0.7
    w, b = references.sgd_epoch(w0, b0, X, y, lr=0.05, batch_size=5, rng=np.random.default_rng(11))
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([tw, tb], lr=0.05)
    order = np.random.default_rng(11).permutation(23)  # the reference draws exactly this
    for start in range(0, 23, 5):
        idx = order[start : start + 5]
        opt.zero_grad()
        pred = torch.tensor(X[idx]) @ tw + tb
        torch.nn.functional.mse_loss(pred, torch.tensor(y[idx])).backward()
        opt.step()
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-12)
    assert b == pytest.approx(tb.item(), rel=1e-12)


@pytest.mark.parametrize(
    "name, torch_fn",
    [("sigmoid_layer", torch.sigmoid), ("tanh_layer", torch.tanh), ("relu_layer", torch.relu)],
)
def test_reference_activation_matches_torch_autograd_with_exact_zeros(name, torch_fn):
    rng = np.random.default_rng(5)
    x, grad_out = 3.0 * rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    x[0, :3] = 0.0  # relu'(0) is 0 in torch
    y, grad_x = references.REFERENCES[name](x, grad_out)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(tx)
    ty.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_reference_cross_entropy_matches_torch_on_large_logits():
    rng = np.random.default_rng(6)
    logits, targets = rng.standard_normal((5, 4)), rng.integers(4, size=5)
    logits[2] += 850.0  # naive exp overflows here; torch's log-softmax does not
    loss, grad = references.softmax_cross_entropy(logits, targets)
    tz = torch.tensor(logits, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(targets))
    tl.backward()
    assert np.isfinite(grad).all() and loss == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(grad, tz.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("shape", [(7, 3), (16, 3, 5), (8, 4, 3, 3), (2, 6, 2, 3, 4)])
def test_reference_fans_and_scales_match_torch_nn_init(shape):
    tfan_in, tfan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert references.fans(shape) == (tfan_in, tfan_out)
    gain = torch.nn.init.calculate_gain("tanh")
    # torch.nn.init's documented formulas, with torch's own fans and gains
    assert references.xavier_scale(shape, gain=gain, distribution="normal") == pytest.approx(
        gain * (2.0 / (tfan_in + tfan_out)) ** 0.5, rel=1e-12
    )
    assert references.xavier_scale(shape, gain=gain, distribution="uniform") == pytest.approx(
        gain * (6.0 / (tfan_in + tfan_out)) ** 0.5, rel=1e-12
    )
    relu = torch.nn.init.calculate_gain("relu")
    for mode, fan in (("fan_in", tfan_in), ("fan_out", tfan_out)):
        assert references.kaiming_scale(
            shape, gain=relu, mode=mode, distribution="normal"
        ) == pytest.approx(relu / fan**0.5, rel=1e-12)
        assert references.kaiming_scale(
            shape, gain=relu, mode=mode, distribution="uniform"
        ) == pytest.approx(relu * (3.0 / fan) ** 0.5, rel=1e-12)


def test_reference_scales_agree_with_torch_init_samples():
    w = torch.empty(300, 400, dtype=torch.float64)
    torch.manual_seed(0)
    torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")
    bound = references.kaiming_scale((300, 400), gain=2**0.5, mode="fan_in", distribution="uniform")
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.999 * bound
    torch.nn.init.xavier_normal_(w)
    std = references.xavier_scale((300, 400), gain=1.0, distribution="normal")
    assert w.std().item() == pytest.approx(std, rel=0.02)
    sample = references.sample_weight(
        (300, 400), std, distribution="normal", rng=np.random.default_rng(1)
    )
    assert sample.std() == pytest.approx(std, rel=0.02) and abs(sample.mean()) < 0.01 * std


def test_reference_batchnorm_matches_torch_batchnorm1d_train_eval_and_autograd():
    rng = np.random.default_rng(8)
    x, g = 2.0 + 3.0 * rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    gamma, beta = rng.uniform(0.5, 2.0, 3), rng.standard_normal(3)
    mean0, var0 = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    bn = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
        bn.running_mean.copy_(torch.tensor(mean0))
        bn.running_var.copy_(torch.tensor(var0))
    tx = torch.tensor(x, requires_grad=True)
    ty = bn(tx)
    ty.backward(torch.tensor(g))
    y, mean1, var1 = references.batchnorm_forward(
        x, gamma, beta, mean0, var0, training=True, momentum=0.2, eps=1e-3
    )
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean1, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var1, bn.running_var.numpy(), rtol=1e-12)
    grads = references.batchnorm_backward(g, x, gamma, eps=1e-3)
    for ours, theirs in zip(grads, (tx.grad, bn.weight.grad, bn.bias.grad), strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-12)
    bn.eval()
    y_eval, mean2, var2 = references.batchnorm_forward(
        x, gamma, beta, mean1, var1, training=False, momentum=0.2, eps=1e-3
    )
    np.testing.assert_allclose(y_eval, bn(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    assert (mean2 == mean1).all() and (var2 == var1).all()


@pytest.mark.parametrize(
    "losses, tol, max_iters, stop",
    [
        ([1.0], 0.1, 3, False),  # nothing done yet
        ([1.0, 0.5], 0.1, 3, False),  # large decrease
        ([1.0, 0.95], 0.1, 3, True),  # change below tol
        ([1.0, 1.5], 0.1, 3, False),  # went up by more than tol: not converged
        ([3.0, 2.0, 1.0], 0.1, 2, True),  # budget used up
        ([3.0, 2.0, 1.0], 0.1, 3, False),  # one iteration left
    ],
)
def test_reference_stopping_rule_on_hand_made_histories(losses, tol, max_iters, stop):
    assert references.should_stop(losses, tol=tol, max_iters=max_iters) is stop


# --------------------------------------------------------------------------- messages


# --------------------------------------------------------------------------- regularization


def test_reference_dropout_matches_torch_autograd_with_its_mask_and_keeps_1_minus_p():
    rng, p = np.random.default_rng(8), 0.3
    x, grad_out = rng.standard_normal((200, 50)), rng.standard_normal((200, 50))
    y, grad_x = references.dropout_layer(
        x, grad_out, p=p, training=True, rng=np.random.default_rng(4)
    )
    keep = np.random.default_rng(4).random(x.shape) >= p  # the mask the exercise fixes
    tx = torch.tensor(x, requires_grad=True)
    ty = tx * torch.tensor(keep) / (1 - p)  # torch.nn.functional.dropout's formula
    ty.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-15)
    # torch's own dropout keeps the same values: 0 or x / (1 - p)
    torch.manual_seed(0)
    t_out = torch.nn.functional.dropout(torch.tensor(x), p, training=True).numpy()
    assert np.all(np.isclose(t_out, 0) | np.isclose(t_out, x / (1 - p)))
    # a Bernoulli(1 - p) mask: the kept fraction is within 4 standard errors of 1 - p
    n = keep.size
    assert abs(keep.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)
    y_eval, g_eval = references.dropout_layer(
        x, grad_out, p=p, training=False, rng=np.random.default_rng(4)
    )
    layer = torch.nn.Dropout(p).eval()
    np.testing.assert_array_equal(y_eval, layer(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(g_eval, grad_out)


@pytest.mark.parametrize("decoupled", [False, True])
def test_reference_sgd_weight_decay_matches_torch_sgd(decoupled):
    rng, lr, mu, wd = np.random.default_rng(9), 0.05, 0.9, 0.4
    param, state = rng.standard_normal((3, 2)), {}
    t = torch.tensor(param.copy(), requires_grad=True)
    opt = torch.optim.SGD([t], lr=lr, momentum=mu, weight_decay=0.0 if decoupled else wd)
    for _ in range(30):
        grad = rng.standard_normal((3, 2))
        references.sgd_weight_decay_step(
            param, grad, state, lr=lr, momentum=mu, weight_decay=wd, decoupled=decoupled
        )
        if decoupled:  # the decoupled form: shrink, then torch's plain momentum step
            with torch.no_grad():
                t.mul_(1 - lr * wd)
        t.grad = torch.tensor(grad)
        opt.step()
    np.testing.assert_allclose(param, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_decay_forms_differ_with_momentum_and_agree_without():
    rng = np.random.default_rng(10)
    start, grads = rng.standard_normal(4), rng.standard_normal((10, 4))
    for mu, same in ((0.0, True), (0.9, False)):
        ends = []
        for decoupled in (False, True):
            param, state = start.copy(), {}
            for g in grads:
                references.sgd_weight_decay_step(
                    param, g, state, lr=0.1, momentum=mu, weight_decay=0.5, decoupled=decoupled
                )
            ends.append(param)
        assert np.allclose(*ends, rtol=1e-13) == same


@pytest.mark.parametrize(
    "decoupled, make",
    [
        (
            False,
            lambda p: torch.optim.Adam(p, lr=0.03, betas=(0.85, 0.98), eps=1e-6, weight_decay=0.2),
        ),
        (
            True,
            lambda p: torch.optim.AdamW(p, lr=0.03, betas=(0.85, 0.98), eps=1e-6, weight_decay=0.2),
        ),
    ],
)
def test_reference_adam_weight_decay_matches_torch_adam_and_adamw(decoupled, make):
    rng = np.random.default_rng(11)
    param, state = rng.standard_normal((3, 2)), {}
    t = torch.tensor(param.copy(), requires_grad=True)
    opt = make([t])
    for _ in range(30):
        grad = rng.standard_normal((3, 2))
        references.adam_weight_decay_step(
            param,
            grad,
            state,
            lr=0.03,
            beta1=0.85,
            beta2=0.98,
            eps=1e-6,
            weight_decay=0.2,
            decoupled=decoupled,
        )
        t.grad = torch.tensor(grad)
        opt.step()
    np.testing.assert_allclose(param, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "losses, patience, min_delta, stop, best",
    [
        ([3, 2, 2.5, 1.9, 2, 2.1, 2.2], 2, 0.0, 5, 3),  # stops at the 2nd epoch in a row
        ([3, 2, 2.5, 1.9, 2, 2.1, 2.2], 5, 0.0, 6, 3),  # never stops: the last epoch
        ([3, 2, 2, 2, 2.5], 2, 0.0, 3, 1),  # ties are not improvements
        ([3, 2, 1.95, 1.9, 1.85], 2, 0.1, 3, 1),  # better by less than min_delta
        ([1.0, 2.0], 1, 0.0, 1, 0),  # patience 1: the first bad epoch
        ([5.0], 3, 0.0, 0, 0),  # one epoch
    ],
)
def test_reference_early_stopping_on_hand_made_runs(losses, patience, min_delta, stop, best):
    weights = [np.full(2, float(e)) for e in range(len(losses))]
    got = references.early_stopping(losses, weights, patience=patience, min_delta=min_delta)
    assert got[:2] == (stop, best)
    np.testing.assert_array_equal(got[2], weights[best])
    assert got[2] is not weights[best]  # a copy: the run may write into its weights later


# --------------------------------------------------------------------------- fine-tuning


@pytest.mark.parametrize(
    "n_layers, every, table",
    [
        (4, 1, [[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]),
        (3, 2, [[0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1]]),
    ],
)
def test_reference_gradual_unfreezing_by_hand(n_layers, every, table):
    """ULMFiT's schedule: the head first, one more layer every ``every`` epochs."""
    for epoch, row in enumerate(table):
        assert references.trainable_layers(n_layers, epoch, every=every) == [bool(v) for v in row]


def test_reference_frozen_step_matches_torch_sgd_on_trainable_parameters():
    rng, lr, wd = np.random.default_rng(12), 0.1, 0.3
    shapes, trainable = [(3, 2), (4,), (2, 2, 2)], [False, True, True]
    weights = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s) for s in shapes]
    new, n = references.frozen_sgd_step(weights, grads, trainable, lr=lr, weight_decay=wd)
    params = [torch.tensor(w, requires_grad=train) for w, train in zip(weights, trainable)]
    for p, g in zip(params, grads):
        if p.requires_grad:  # a frozen parameter gets no gradient from autograd
            p.grad = torch.tensor(g)
    # without momentum SGD's L2 penalty and decoupled decay are the same step
    torch.optim.SGD(params, lr=lr, weight_decay=wd).step()
    for ours, p in zip(new, params):
        np.testing.assert_allclose(ours, p.detach().numpy(), rtol=1e-14)
    assert n == sum(p.numel() for p in params if p.requires_grad)
    np.testing.assert_array_equal(new[0], weights[0])


def test_reference_lora_init_is_torch_linear_default_for_A_and_zero_for_B():
    d_out, d_in, r = 6, 9, 3
    A, B = references.lora_init(d_out, d_in, r, rng=np.random.default_rng(13))
    # kaiming_uniform_(a=sqrt(5)), torch.nn.Linear's default: bound gain * sqrt(3 / fan_in)
    bound = torch.nn.init.calculate_gain("leaky_relu", 5**0.5) * (3 / d_in) ** 0.5
    assert A.shape == (r, d_in) and B.shape == (d_out, r)
    assert np.all(np.abs(A) <= bound) and np.abs(A).max() > 0.5 * bound
    np.testing.assert_array_equal(B, 0.0)
    big, _ = references.lora_init(200, 300, 100, rng=np.random.default_rng(14))
    assert big.std() == pytest.approx(1 / 300**0.5 / 3**0.5, rel=0.02)  # U(-b, b): std b/sqrt 3


def test_reference_lora_layer_and_merge_match_torch_autograd():
    rng, alpha = np.random.default_rng(15), 8.0
    W, A, B = rng.standard_normal((5, 7)), rng.standard_normal((2, 7)), rng.standard_normal((5, 2))
    x, grad_out = rng.standard_normal((4, 7)), rng.standard_normal((4, 5))
    y, grad_x, grad_A, grad_B = references.lora_forward_backward(x, W, A, B, grad_out, alpha=alpha)
    tx, tA, tB = (torch.tensor(a, requires_grad=True) for a in (x, A, B))
    tW = torch.tensor(W)  # frozen
    F = torch.nn.functional
    ty = F.linear(tx, tW) + alpha / 2 * F.linear(F.linear(tx, tA), tB)
    ty.backward(torch.tensor(grad_out))
    for ours, theirs in ((y, ty), (grad_x, tx.grad), (grad_A, tA.grad), (grad_B, tB.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-13)
    merged = references.lora_merge(W, A, B, alpha=alpha)
    np.testing.assert_allclose(
        F.linear(tx, torch.tensor(merged)).detach().numpy(),
        ty.detach().numpy(),
        rtol=1e-12,
        atol=1e-13,
    )


def test_trajectory_mismatch_names_step_element_expected_and_got():
    expected = np.zeros((4, 2, 3))
    got = expected.copy()
    got[2, 1, 0] = 0.5
    m = first_mismatch(expected, got, Tolerance(), axis0="step")
    assert str(m) == "step 2, element (1, 0): values differ: expected 0, got 0.5"


def test_batch_mismatch_names_batch_field_and_count():
    e = [[np.ones((2, 1)), np.ones(2)], [np.ones((1, 1)), np.ones(1)]]
    g = [[np.ones((2, 1)), np.array([1.0, 3.0])]]
    assert (
        str(first_mismatch(e, g, labels=("batch", ("X", "y"))))
        == "batch 0, y, element 1: values differ: expected 1, got 3"
    )
    assert "expected 2 batches, got 1" in str(first_mismatch(e, e[:1], labels=("batch",)))


def test_failing_check_message_names_case_step_element_and_the_mistake():
    wrong = compiled(next(m for m in MISTAKES if m.key == "adam_no_bias_correction"))
    with pytest.raises(AssertionError) as err:
        check("adam_step", wrong)
    text = str(err.value)
    for part in (
        "case 1 of 3",
        "step 1, element 0",
        "expected",
        "got",
        "This matches a known mistake: Adam without bias correction",
    ):
        assert part in text


def test_check_prints_a_summary_when_the_answer_is_right(capsys):
    check(
        "warmup_cosine_lr",
        compiled(VARIANTS["warmup_cosine_lr"]["numpy_piecewise"], "warmup_cosine_lr"),
    )
    assert "warmup_cosine_lr: all 2 cases agree with the reference." in capsys.readouterr().out


@pytest.mark.parametrize(
    "bad, error, text",
    [
        (("no_such_exercise", len), ValueError, "Invalid exercise: 'no_such_exercise'"),
        (("adam_step", 3), AssertionError, "adam_step must be a function, got 3"),
    ],
)
def test_check_rejects_bad_input_clearly(bad, error, text):
    with pytest.raises(error, match=text):
        check(*bad)


def test_check_refuses_to_pass_under_autograde_without_the_sandbox(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("DLOPT_SANDBOXED", raising=False)
    right = compiled(VARIANTS["should_stop"]["iteration_count_first"], "should_stop")
    with pytest.raises(AssertionError, match="without the course's sandbox"):
        check("should_stop", right)


def test_answer_that_calls_dlopt_or_torch_is_flagged_in_the_notebook():
    namespace = {"adam": references.adam_step, "torch": torch}
    exec(
        "def f(p, g, s, **k):\n    adam(p, g, s, **k)\ndef h(p, g, s, **k):\n    torch.optim.SGD\n",
        namespace,
    )
    assert "adam from dlopt.grading.assignments.optimizers" in forbidden_reference(namespace["f"])
    assert "torch" in forbidden_reference(namespace["h"])
    assert forbidden_reference(references.mse_gradient) is None  # plain NumPy


@pytest.mark.parametrize(
    "line, module",
    [
        ("import dlopt.grading.references as r", "dlopt"),
        ("from torch import optim", "torch"),
        ("optim = __import__('importlib').import_module('torch.optim')", "torch"),
    ],
)
def test_visible_check_fails_an_import_inside_the_answer_as_the_grader_does(line, module):
    """The kernel has dlopt and torch loaded; the grading child has neither: the visible
    check must fail such an answer with the child's message (``sandbox._ImportBlocker``)."""
    source = (
        "def should_stop(losses, *, tol, max_iters):\n"
        f"    {line}\n"
        "    return len(losses) - 1 >= max_iters or (\n"
        "        len(losses) > 1 and abs(losses[-1] - losses[-2]) < tol)\n"
    )
    with pytest.raises(AssertionError) as err:
        check("should_stop", compiled(source, "should_stop"))
    assert (
        f"your function raised ImportError: importing {module} is not allowed in an answer"
        in str(err.value)
    )
    import builtins
    import importlib

    assert builtins.__import__.__module__ == "builtins"  # the guard is gone afterwards
    assert importlib.import_module.__module__ == "importlib"


def test_visible_check_passes_an_answer_that_logs_to_stderr_and_writes_nothing_there(capsys):
    """nbgrader counts any stderr output of a test cell as an error: check() catches it."""
    check("should_stop", compiled(VARIANTS["should_stop"]["logs_to_stderr"], "should_stop"))
    out, err = capsys.readouterr()
    assert err == ""
    assert "to stderr, shown here" in out and "all 1 cases agree" in out


def test_visible_check_captures_a_logging_handler_bound_to_stderr_before_the_check(capsys):
    """A logger configured in an earlier cell holds the kernel's stderr itself; its output
    during the check must not reach stderr either."""
    import logging
    import sys

    logger = logging.getLogger("student_debug")
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    try:
        source = (
            "import logging\n"
            "def should_stop(losses, *, tol, max_iters):\n"
            "    logging.getLogger('student_debug').warning('k = %d', len(losses) - 1)\n"
            "    k = len(losses) - 1\n"
            "    return k >= max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) < tol)\n"
        )
        check("should_stop", compiled(source, "should_stop"))
        out, err = capsys.readouterr()
        assert err == "" and "k = 0" in out
        assert handler.stream is sys.stderr  # put back afterwards
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    "source, phrases",
    [
        (
            "def momentum_step(param, grad, state, *, lr, momentum):\n"
            "    buf = state.get('b')\n"
            "    state['b'] = buf = grad.copy() if buf is None else momentum * buf + grad\n"
            "    param = param - lr * buf\n"
            "    return param\n",
            ("rebinds its parameter `param` (param = ...) at step 1, whether it returns",),
        ),
        (
            "def momentum_step(param, grad, state, *, lr, momentum):\n"
            "    if 'b' in state:\n"
            "        grad += momentum * state['b']\n"
            "    state['b'] = grad.copy()\n"
            "    param -= lr * grad\n",
            ("your function changed its argument `grad` (at step 2)",),
        ),
        (
            "def momentum_step(param, grad, state, *, lr, momentum):\n"
            "    state['b'] = grad if 'b' not in state else momentum * state['b'] + grad\n"
            "    param -= lr * state['b']\n",
            ("keeps a reference to the caller's `grad` array",),
        ),
    ],
)
def test_rule_feedback_names_the_broken_clause(source, phrases):
    with pytest.raises(AssertionError) as err:
        check("momentum_step", compiled(source, "momentum_step"))
    for phrase in phrases:
        assert phrase in str(err.value)


@pytest.mark.parametrize(
    "name, source, phrase",
    [
        (
            "relu_layer",
            "import numpy as np\ndef relu_layer(x, grad_out):\n"
            "    return np.maximum(x, 0), grad_out * (x >= 0)\n",
            "There x = 0 exactly",
        ),
        (
            "tanh_layer",
            "import numpy as np\ndef tanh_layer(x, grad_out):\n"
            "    y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))\n"
            "    return y, grad_out * (1 - y * y)\n",
            "a large input",
        ),
        (
            "sigmoid_layer",
            "import numpy as np\ndef sigmoid_layer(x, grad_out):\n"
            "    y = 1 / (1 + np.exp(-x.astype(float)))\n"
            "    return y, grad_out * y * (1 - y)\n",
            "wrong dtype (the contract",
        ),
        (
            "dropout_layer",
            "def dropout_layer(x, grad_out, *, p, training, rng):\n"
            "    if not training:\n        return x, grad_out\n"
            "    keep = rng.random(x.shape) >= p\n"
            "    return x * keep / (1 - p), grad_out * keep / (1 - p)\n",
            "shares memory with its argument `x`",
        ),
        (
            "lora_merge",
            "def lora_merge(W, A, B, *, alpha):\n    W += alpha / len(A) * B @ A\n    return W\n",
            "changed its argument `W`",
        ),
    ],
)
def test_call_feedback_names_the_clause_or_the_special_input(name, source, phrase):
    with pytest.raises(AssertionError) as err:
        check(name, compiled(source, name))
    assert phrase in str(err.value)


@pytest.mark.parametrize(
    "name, source, phrase",
    [
        (
            "should_stop",
            "def should_stop(losses, *, tol, max_iters):\n"
            "    k = len(losses) - 1\n"
            "    return k >= max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) <= tol)\n",
            "equals tol exactly: the rule is strict",
        ),
        (
            "should_stop",
            "def should_stop(losses, *, tol, max_iters):\n"
            "    k = len(losses) - 1\n"
            "    return k > max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) < tol)\n",
            "the budget is used up",
        ),
        (
            "early_stopping",
            "def early_stopping(val_losses, weights, *, patience, min_delta):\n"
            "    best, best_epoch, bad = val_losses[0], 0, 0\n"
            "    for epoch in range(1, len(val_losses)):\n"
            "        if val_losses[epoch] <= best - min_delta:\n"
            "            best, best_epoch, bad = val_losses[epoch], epoch, 0\n"
            "        else:\n"
            "            bad += 1\n"
            "            if bad == patience:\n"
            "                return epoch, best_epoch, weights[best_epoch].copy()\n"
            "    return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()\n",
            "not an improvement (an improvement is val_loss < best - min_delta, strictly)",
        ),
    ],
)
def test_boundary_feedback_says_what_is_special_there(name, source, phrase):
    with pytest.raises(AssertionError) as err:
        check(name, compiled(source, name))
    assert phrase in str(err.value)


def test_each_call_gets_deep_copies_so_an_in_place_answer_does_not_move_the_reference():
    """frozen_sgd_step may update its list's arrays in place; the reference must still see
    the original weights (a shallow copy of the list used to hand it the changed ones)."""
    exercise = EXERCISES["frozen_sgd_step"]
    case = exercise.cases()[0]
    before = [w.copy() for w in case.task.calls[0][0][0]]
    fn = compiled(
        VARIANTS["frozen_sgd_step"]["updates_the_given_arrays_in_place"], "frozen_sgd_step"
    )
    outcome = run_task(case.task, fn)
    assert outcome.error is None
    for w, b in zip(case.task.calls[0][0][0], before, strict=True):
        np.testing.assert_array_equal(w, b)
    assert judge(exercise, [case], [outcome]).passed


def test_registry_holds_each_assignment_with_its_exercises_and_mistakes():
    """One module per assignment (the notebook's folder) registers its exercises; the
    facades (references, mistakes, BY_GRADE_ID) are collected from it."""
    from dlopt.grading import assignments
    from dlopt.grading.assignments import BY_GRADE_ID

    assert sorted(assignments.NAMES) == sorted(
        p.name for p in COURSE_SOURCE.iterdir() if p.is_dir()
    )
    for module in assignments.modules():
        name = module.__name__.rsplit(".", 1)[1]
        notebook = (COURSE_SOURCE / name / f"{name}.ipynb").read_text()
        for exercise in module.EXERCISES:
            assert exercise.assignment == name and f'"test_{exercise.name}"' in notebook
            assert references.REFERENCES[exercise.name] is exercise.reference
            assert BY_GRADE_ID[exercise.grade_id] is EXERCISES[exercise.name]
            assert exercise.mistakes == [m for m in module.MISTAKES if m.exercise == exercise.name]
        assert {m.exercise for m in module.MISTAKES} <= {e.name for e in module.EXERCISES}
    assert len(MISTAKES) == sum(len(m.MISTAKES) for m in assignments.modules())


def test_hidden_cases_depend_only_on_the_seed():
    """The grader passes a per-student seed: grading twice gives the same cases."""
    for name, exercise in EXERCISES.items():
        a, b = exercise.cases(True, seed=7), exercise.cases(True, seed=7)
        text_a, blob_a = encode([c.task for c in a])
        text_b, blob_b = encode([c.task for c in b])
        assert text_a == text_b and blob_a == blob_b, name


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.key)
def test_recogniser_names_each_catalogued_mistake(mistake):
    fn = compiled(mistake)
    for hidden in (False, True):
        verdict = grade_in_process(
            mistake.exercise, fn, hidden=hidden, seed=None if not hidden else 12345
        )
        assert not verdict.passed
        assert f"This matches a known mistake: {mistake.description}." in verdict.summary()


def test_visible_check_agrees_with_the_grade_on_every_mistake_and_variant(capsys):
    """check() (the student's visible check) fails exactly the answers that judge() fails on
    the visible cases, with judge's message."""
    answers = [(m.exercise, compiled(m)) for m in MISTAKES] + [
        (e, compiled(src, e)) for e, v in VARIANTS.items() for src in v.values()
    ]
    for name, fn in answers:
        verdict = grade_in_process(name, fn, hidden=False)
        capsys.readouterr()
        try:
            check(name, fn)
            message = None
        except AssertionError as exc:
            message = str(exc)
        assert message == (None if verdict.passed else verdict.summary()), name
        assert capsys.readouterr().err == "", name


@pytest.mark.parametrize("exercise, key", [(e, k) for e, v in VARIANTS.items() for k in v])
def test_correct_variant_passes_visible_and_hidden_cases(exercise, key):
    fn = compiled(VARIANTS[exercise][key], exercise)
    for hidden, seed in ((False, None), (True, 1), (True, 2)):
        verdict = grade_in_process(exercise, fn, hidden=hidden, seed=seed)
        assert verdict.passed, verdict.summary()


def test_every_exercise_has_mistakes_and_a_variant():
    for name in EXERCISES:
        assert [m for m in MISTAKES if m.exercise == name], name
        assert name in VARIANTS
    assert len({m.key for m in MISTAKES}) == len(MISTAKES)


def test_hidden_cases_are_fresh_at_every_call_and_visible_cases_fixed():
    ex = EXERCISES["adam_step"]
    a, b = ex.cases(hidden=True), ex.cases(hidden=True)
    assert not np.array_equal(a[0].task.param0, b[0].task.param0)
    c, d = ex.cases(), ex.cases()
    assert np.array_equal(c[0].task.param0, d[0].task.param0)


def test_a_check_in_a_notebook_kernel_does_not_import_torch():
    """``from dlopt.grading import check`` runs in every graded kernel: importing torch there
    would cost every notebook about two seconds (the fine-tuning references import it late)."""
    code = "import sys; from dlopt.grading import check, EXERCISES; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("path", sorted(COURSE_SOURCE.glob("*/*.ipynb")), ids=lambda p: p.stem)
def test_points_the_notebook_states_are_the_points_it_grades(path):
    """The "**Points.**" paragraph lists every graded cell's points in order, then their sum;
    each test cell's first line says its own points."""
    nb = json.loads(path.read_text())
    graded = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    points = [c["metadata"]["nbgrader"]["points"] for c in graded]
    # the assignment's introduction (after the cells that say how to install and submit)
    intro = next(text for c in nb["cells"] if "**Points.**" in (text := "".join(c["source"])))
    stated = intro[intro.index("**Points.**") : intro.index("in all.")]
    assert [int(n) for n in re.findall(r"\b\d+\b", stated)] == [*points, sum(points)]
    for c, p in zip(graded, points, strict=True):
        if c["cell_type"] == "code":
            assert f"({p} points)" in "".join(c["source"]).splitlines()[0]

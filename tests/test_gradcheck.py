"""dlopt.gradcheck: agrees with autograd, passes every correct layer, catches planted bugs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlopt import layers as L
from dlopt.finetune import LoRALinear
from dlopt.gradcheck import check_layer, numerical_gradient, relative_error

TOLERANCE = 1e-6  # a correct backward pass is ~1e-9 off; a wrong one ~1


def test_numerical_gradient_matches_autograd_of_a_nonlinear_function():
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()

    def f_torch(t):
        return torch.log_softmax(torch.sin(t) * t, dim=1)[:, 0].sum() + (t**3).mean()

    x_t = torch.tensor(x, requires_grad=True)
    f_torch(x_t).backward()
    numeric = numerical_gradient(lambda a: f_torch(torch.from_numpy(a)).item(), x)
    np.testing.assert_allclose(numeric, x_t.grad.numpy(), rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, before)  # every entry restored


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.ones(3)
    calls = []

    def failing(a):
        calls.append(a.copy())
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        numerical_gradient(failing, x)
    assert calls[0][0] == 1 + 1e-6  # f saw the perturbed x
    np.testing.assert_array_equal(x, np.ones(3))


def test_numerical_gradient_refuses_float32_and_non_scalar_functions():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="f must return a scalar"):
        numerical_gradient(lambda a: a * 2, np.ones(3))
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(np.sum, np.ones(3), eps=0.0)


def test_relative_error_is_zero_symmetric_scale_free_and_bounded():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 5, 3))
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, b) == relative_error(b, a)
    np.testing.assert_allclose(relative_error(1e-8 * a, 1e-8 * b), relative_error(a, b), rtol=1e-12)
    assert relative_error(a, -a) == 1.0  # the worst case: opposite signs
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 3e-9])) == pytest.approx(
        3e-9 / 4
    )
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.ones(2), np.ones(3))


def correct_layers(rng):
    """One of every layer (and a small network) with the input it is checked on."""
    lora = LoRALinear(L.Linear(4, 5, rng=rng), r=2, alpha=3.0, rng=rng)
    lora.params["lora_B"][...] = rng.standard_normal((5, 2))  # B = 0 would hide half the maths
    batchnorm = L.BatchNorm1d(3)
    batchnorm.params["weight"][...] = rng.uniform(0.5, 2.0, 3)
    eval_batchnorm = L.BatchNorm2d(2).eval()
    eval_batchnorm.running_var[...] = rng.uniform(0.5, 2.0, 2)
    net = L.Sequential(
        L.Linear(4, 6, bias=False, rng=rng),
        L.BatchNorm1d(6),
        L.GELU(),
        L.Dropout(0.3, rng=rng),
        L.Linear(6, 3, rng=rng),
        L.Softmax(),
    )
    image = rng.standard_normal((4, 2, 3, 3))
    return {
        "Linear": (L.Linear(4, 3, rng=rng), rng.standard_normal((5, 4))),
        "ReLU": (L.ReLU(), rng.standard_normal((5, 4))),
        "LeakyReLU": (L.LeakyReLU(0.2), rng.standard_normal((5, 4))),
        "ELU": (L.ELU(), rng.standard_normal((5, 4))),
        "Sigmoid": (L.Sigmoid(), rng.standard_normal((5, 4))),
        "Tanh": (L.Tanh(), rng.standard_normal((5, 4))),
        "GELU": (L.GELU(), rng.standard_normal((5, 4))),
        "GELU-tanh": (L.GELU("tanh"), rng.standard_normal((5, 4))),
        "SiLU": (L.SiLU(), rng.standard_normal((5, 4))),
        "Softmax": (L.Softmax(dim=0), rng.standard_normal((5, 4))),
        "Identity": (L.Identity(), rng.standard_normal((5, 4))),
        "Flatten": (L.Flatten(), image),
        "Dropout-train": (L.Dropout(0.5, rng=rng), rng.standard_normal((5, 4))),
        "BatchNorm1d-train": (batchnorm, rng.standard_normal((6, 3))),
        "BatchNorm2d-train": (L.BatchNorm2d(2), image),
        "BatchNorm2d-eval": (eval_batchnorm, image),
        "LoRALinear": (lora, rng.standard_normal((3, 4))),
        "Sequential": (net, rng.standard_normal((5, 4))),
    }


@pytest.mark.parametrize("name", list(correct_layers(np.random.default_rng(0))))
def test_check_layer_reports_small_errors_for_every_correct_layer(name):
    layer, x = correct_layers(np.random.default_rng(2))[name]
    errors = check_layer(layer, x, rng=np.random.default_rng(3))
    trainable = {n for n, p in layer.named_parameters() if any(p is q for q in layer.parameters())}
    assert set(errors) == {"input"} | trainable  # LoRA's frozen base is not checked
    assert max(errors.values()) < TOLERANCE, errors


class SigmoidWithWrongDerivative(L.Sigmoid):
    """The classic slip: sigma' taken as sigma instead of sigma (1 - sigma)."""

    def derivative(self, x, y):
        return y


class LinearWithBiasGradientNotSummed(L.Linear):
    """Another slip: the bias gradient averaged over the batch instead of summed."""

    def backward(self, grad_out):
        grad_in = super().backward(grad_out)
        self.grads["bias"] /= grad_out.shape[0]
        return grad_in


def test_check_layer_catches_a_sigmoid_with_the_wrong_derivative():
    x = np.random.default_rng(4).standard_normal((5, 4))
    assert check_layer(L.Sigmoid(), x, rng=np.random.default_rng(5))["input"] < TOLERANCE
    assert check_layer(SigmoidWithWrongDerivative(), x, rng=np.random.default_rng(5))["input"] > 0.1


def test_check_layer_names_the_parameter_whose_gradient_is_wrong():
    rng = np.random.default_rng(6)
    layer = LinearWithBiasGradientNotSummed(3, 2, rng=rng)
    errors = check_layer(layer, rng.standard_normal((8, 3)), rng=rng)
    assert errors["input"] < TOLERANCE and errors["weight"] < TOLERANCE
    assert errors["bias"] > 0.1


def test_check_layer_catches_dropout_whose_backward_ignores_the_mask():
    class DropoutBackwardWithoutMask(L.Dropout):
        def backward(self, grad_out):
            super().backward(grad_out)
            return grad_out / (1 - self.p)

    x = np.random.default_rng(7).standard_normal((6, 5))
    errors = check_layer(
        DropoutBackwardWithoutMask(0.5, rng=np.random.default_rng(8)),
        x,
        rng=np.random.default_rng(9),
    )
    assert errors["input"] > 0.1


def test_check_layer_agrees_with_autograd_on_the_analytic_side():
    # the analytic gradients check_layer compares are those torch's autograd gives
    rng = np.random.default_rng(10)
    ours = L.Sequential(L.Linear(3, 4, rng=rng), L.Tanh())
    x = rng.standard_normal((5, 3))
    r = np.random.default_rng(11).standard_normal((5, 4))
    weight = torch.tensor(ours[0].params["weight"], requires_grad=True)
    bias = torch.tensor(ours[0].params["bias"], requires_grad=True)
    x_t = torch.tensor(x, requires_grad=True)
    (torch.tanh(x_t @ weight.T + bias) * torch.from_numpy(r)).sum().backward()
    ours(x)
    np.testing.assert_allclose(ours.backward(r), x_t.grad.numpy(), rtol=1e-10)
    loss = lambda _: float(np.sum(ours(x) * r))  # noqa: E731
    np.testing.assert_allclose(numerical_gradient(loss, x), x_t.grad.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(
        numerical_gradient(loss, ours[0].params["weight"]),
        weight.grad.numpy(),
        rtol=1e-7,
        atol=1e-9,
    )
    assert max(check_layer(ours, x, rng=np.random.default_rng(11)).values()) < TOLERANCE


def test_check_layer_leaves_the_layer_and_its_random_state_untouched():
    rng = np.random.default_rng(12)
    net = L.Sequential(L.BatchNorm1d(3), L.Dropout(0.5, rng=np.random.default_rng(13)))
    state = net[1].rng.bit_generator.state
    weight = net[0].params["weight"].copy()
    check_layer(net, rng.standard_normal((4, 3)), rng=rng)
    assert net[0].num_batches_tracked == 0
    np.testing.assert_array_equal(net[0].running_mean, np.zeros(3))
    np.testing.assert_array_equal(net[0].params["weight"], weight)
    assert net[1].rng.bit_generator.state == state


def test_a_bias_before_batchnorm_has_zero_gradient_so_its_relative_error_means_nothing():
    # BatchNorm subtracts the batch mean, so a bias in front of it cannot change the output:
    # both gradients are round-off, and their ratio is not a test of anything.
    rng = np.random.default_rng(14)
    net = L.Sequential(L.Linear(3, 2, rng=rng), L.BatchNorm1d(2))
    x = rng.standard_normal((5, 3))
    net.backward(rng.standard_normal(net(x).shape))
    assert np.abs(net[0].grads["bias"]).max() < 1e-12
    assert check_layer(net, x, rng=rng)["0.weight"] < TOLERANCE


def test_check_layer_refuses_float32_and_non_layers():
    rng = np.random.default_rng(15)
    with pytest.raises(TypeError, match="float64"):
        check_layer(L.ReLU(), np.ones((2, 2), dtype=np.float32), rng=rng)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        check_layer(L.Linear(2, 2, rng=rng, dtype=np.float32), np.ones((2, 2)), rng=rng)
    with pytest.raises(TypeError, match="dlopt.layers.Module"):
        check_layer(torch.nn.ReLU(), np.ones((2, 2)), rng=rng)
    with pytest.raises(TypeError, match="rng"):
        check_layer(L.ReLU(), np.ones((2, 2)), rng=0)

"""Initializers held to torch.nn.init (gains, fans, bounds, standard deviations) and to statistics.

torch's scale is derived from its behaviour: with the same generator seed,
``torch.nn.init.X_`` and ``uniform_(0, 1)`` / ``normal_(0, 1)`` consume the same
random numbers, so ``w = b (2u - 1)`` or ``w = sigma z`` and a least-squares fit
recovers torch's bound ``b`` or std ``sigma`` to round-off. Ours is recovered the
same way from NumPy's ``rng.random`` / ``rng.standard_normal``.
"""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import init

NONLINEARITIES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]
UNIFORM = {"uniform", "xavier_uniform", "kaiming_uniform", "lecun_uniform"}

shapes_2d_plus = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)


def _fit_scale(w, base, centred_uniform):
    """Least-squares ``s`` in ``w = s * x`` with ``x = 2u - 1`` (uniform) or ``x = z`` (normal)."""
    w, x = np.asarray(w, dtype=np.float64).ravel(), np.asarray(base, dtype=np.float64).ravel()
    if centred_uniform:
        x = 2 * x - 1
    return float(w @ x / (x @ x))


def _torch_scale(torch_fn, shape, uniform, seed=0, **kwargs):
    """Bound or std that ``torch.nn.init.<torch_fn>`` uses, recovered from its samples."""
    w = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, torch_fn)(w, generator=torch.Generator().manual_seed(seed), **kwargs)
    base = torch.empty(shape, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    base.uniform_(0, 1, generator=gen) if uniform else base.normal_(0, 1, generator=gen)
    return _fit_scale(w.numpy(), base.numpy(), uniform)


def _our_scale(fn, shape, uniform, seed=0, **kwargs):
    """Bound or std that ``dlopt.init.<fn>`` uses, recovered from its samples the same way."""
    w = getattr(init, fn)(shape, rng=np.random.default_rng(seed), **kwargs)
    rng = np.random.default_rng(seed)
    base = rng.random(shape) if uniform else rng.standard_normal(shape)
    return _fit_scale(w, base, uniform)


# --------------------------------------------------------------------------- gains and fans


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_gain_equals_torch_for_every_nonlinearity(nonlinearity):
    assert init.calculate_gain(nonlinearity) == torch.nn.init.calculate_gain(nonlinearity)


@pytest.mark.parametrize("slope", [None, 0, 0.2, 1, -0.5, 3, 0.01])
@pytest.mark.parametrize("nonlinearity", ["leaky_relu", "relu", "tanh", "selu", "linear"])
def test_gain_with_param_equals_torch(nonlinearity, slope):
    assert init.calculate_gain(nonlinearity, slope) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, slope), rel=1e-15
    )


@pytest.mark.parametrize(
    "args", [("swish",), ("ReLU",), ("leaky_relu", "0.1"), ("leaky_relu", True)]
)
def test_gain_rejects_what_torch_rejects(args):
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(*args)
    with pytest.raises(ValueError):
        init.calculate_gain(*args)


@settings(max_examples=40, deadline=None)
@given(shape=shapes_2d_plus)
def test_fans_equal_torch_for_dense_and_conv_shapes(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.calculate_fan_in_and_fan_out(shape) == expected


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fans_of_fewer_than_two_dims_raise_like_torch(shape):
    with pytest.raises(ValueError, match="fewer than 2"):
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2"):
        init.calculate_fan_in_and_fan_out(shape)


# --------------------------------------------------------------------------- scales vs torch


@settings(max_examples=40, deadline=None)
@given(shape=shapes_2d_plus, gain=st.floats(0.1, 3.0))
def test_xavier_bound_and_std_equal_torch(shape, gain):
    assert init.xavier_bound(shape, gain) == pytest.approx(
        _torch_scale("xavier_uniform_", shape, True, gain=gain), rel=1e-12
    )
    assert init.xavier_std(shape, gain) == pytest.approx(
        _torch_scale("xavier_normal_", shape, False, gain=gain), rel=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes_2d_plus,
    a=st.floats(0.0, 1.0),
    mode=st.sampled_from(["fan_in", "fan_out"]),
    nonlinearity=st.sampled_from(["leaky_relu", "relu", "tanh", "linear", "selu", "sigmoid"]),
)
def test_kaiming_bound_and_std_equal_torch(shape, a, mode, nonlinearity):
    kw = dict(a=a, mode=mode, nonlinearity=nonlinearity)
    assert init.kaiming_bound(shape, **kw) == pytest.approx(
        _torch_scale("kaiming_uniform_", shape, True, **kw), rel=1e-12
    )
    assert init.kaiming_std(shape, **kw) == pytest.approx(
        _torch_scale("kaiming_normal_", shape, False, **kw), rel=1e-12
    )


def test_kaiming_default_is_the_relu_gain_over_sqrt_fan_in():
    shape = (30, 20, 3)
    assert init.kaiming_std(shape) == pytest.approx(math.sqrt(2.0 / 60), rel=1e-15)
    assert init.kaiming_std(shape) == pytest.approx(
        _torch_scale("kaiming_normal_", shape, False), rel=1e-12
    )


# (ours, our kwargs, torch's, torch's kwargs): lecun is torch's Kaiming with gain 1
SAMPLERS = [
    ("uniform", dict(a=-0.3, b=0.3), "uniform_", dict(a=-0.3, b=0.3)),
    ("normal", dict(std=0.7), "normal_", dict(std=0.7)),
    ("xavier_uniform", dict(gain=1.7), "xavier_uniform_", dict(gain=1.7)),
    ("xavier_normal", dict(gain=0.5), "xavier_normal_", dict(gain=0.5)),
    ("kaiming_uniform", dict(), "kaiming_uniform_", dict()),
    ("kaiming_normal", dict(mode="fan_out"), "kaiming_normal_", dict(mode="fan_out")),
    ("kaiming_normal", dict(a=0.2), "kaiming_normal_", dict(a=0.2)),
    ("lecun_uniform", dict(), "kaiming_uniform_", dict(nonlinearity="linear")),
    ("lecun_normal", dict(), "kaiming_normal_", dict(nonlinearity="linear")),
]


@pytest.mark.parametrize("ours, our_kw, theirs, their_kw", SAMPLERS)
@pytest.mark.parametrize("shape", [(7, 11), (4, 3, 5, 5)])
def test_sampler_scale_equals_torch(ours, our_kw, theirs, their_kw, shape):
    uniform = ours in UNIFORM
    assert _our_scale(ours, shape, uniform, **our_kw) == pytest.approx(
        _torch_scale(theirs, shape, uniform, **their_kw), rel=1e-12
    )


@pytest.mark.parametrize("name, kw", [("xavier_uniform_", {}), ("kaiming_uniform_", {"a": 0.1})])
def test_torch_uniform_fills_up_to_our_bound_and_not_beyond(name, kw):
    shape = (64, 32, 3, 3)
    w = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, name)(w, generator=torch.Generator().manual_seed(1), **kw)
    bound = getattr(init, name.replace("uniform_", "bound"))(shape, **kw)
    assert 0.99 * bound < w.abs().max().item() <= bound


@pytest.mark.parametrize("name, kw", [("xavier_normal_", {}), ("kaiming_normal_", {"a": 0.1})])
def test_torch_normal_sample_std_matches_our_std(name, kw):
    shape = (64, 32, 3, 3)
    w = torch.empty(shape, dtype=torch.float64)
    getattr(torch.nn.init, name)(w, generator=torch.Generator().manual_seed(1), **kw)
    std = getattr(init, name.replace("normal_", "std"))(shape, **kw)
    n = w.numel()
    # the sample std of n normals has standard error about std / sqrt(2n)
    assert abs(w.std().item() - std) < 5 * std / math.sqrt(2 * n)


# ------------------------------------------------------------------- statistics of our samples


def _expected_distribution(name, shape, kw):
    if name in UNIFORM:
        bound = {
            "uniform": lambda: kw["b"],
            "xavier_uniform": lambda: init.xavier_bound(shape, **kw),
            "kaiming_uniform": lambda: init.kaiming_bound(shape, **kw),
            "lecun_uniform": lambda: math.sqrt(3.0 / init.calculate_fan_in_and_fan_out(shape)[0]),
        }[name]()
        return scipy.stats.uniform(loc=-bound, scale=2 * bound)
    std = {
        "normal": lambda: kw["std"],
        "xavier_normal": lambda: init.xavier_std(shape, **kw),
        "kaiming_normal": lambda: init.kaiming_std(shape, **kw),
        "lecun_normal": lambda: 1.0 / math.sqrt(init.calculate_fan_in_and_fan_out(shape)[0]),
    }[name]()
    return scipy.stats.norm(loc=0.0, scale=std)


@pytest.mark.parametrize("name, kw", [(s[0], s[1]) for s in SAMPLERS])
def test_samples_pass_ks_test_and_clt_bounds_on_mean_and_variance(name, kw):
    shape = (200, 50)
    w = getattr(init, name)(shape, rng=np.random.default_rng(12345), **kw).ravel()
    dist = _expected_distribution(name, shape, kw)
    assert scipy.stats.kstest(w, dist.cdf).pvalue > 1e-3

    n, var = w.size, dist.var()
    mu4 = dist.moment(4)  # the mean is 0, so this is the fourth central moment
    assert abs(w.mean()) < 5 * math.sqrt(var / n)
    assert abs(w.var() - var) < 5 * math.sqrt((mu4 - var**2) / n)


# --------------------------------------------------------------------------- determinism, dtype


@pytest.mark.parametrize("name, kw", [(s[0], s[1]) for s in SAMPLERS])
def test_same_seed_gives_same_array_and_other_seed_does_not(name, kw):
    fn = getattr(init, name)
    a = fn((6, 5), rng=np.random.default_rng(3), **kw)
    b = fn((6, 5), rng=np.random.default_rng(3), **kw)
    c = fn((6, 5), rng=np.random.default_rng(4), **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name, kw", [(s[0], s[1]) for s in SAMPLERS])
def test_dtype_is_respected_and_float32_is_the_rounded_float64_sample(name, kw):
    fn = getattr(init, name)
    w32 = fn((6, 5), rng=np.random.default_rng(3), dtype=np.float32, **kw)
    w64 = fn((6, 5), rng=np.random.default_rng(3), **kw)
    assert w32.dtype == np.float32 and w64.dtype == np.float64 and w32.shape == (6, 5)
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_zeros_ones_match_torch_fill(dtype):
    t = torch.empty(3, 4, dtype=torch.float64)
    torch.nn.init.constant_(t, 0.25)
    np.testing.assert_array_equal(init.constant((3, 4), 0.25, dtype=dtype), t.numpy())
    np.testing.assert_array_equal(init.zeros((3, 4), dtype=dtype), torch.nn.init.zeros_(t).numpy())
    np.testing.assert_array_equal(init.ones((3, 4), dtype=dtype), torch.nn.init.ones_(t).numpy())
    assert init.constant((3, 4), 0.25, dtype=dtype).dtype == dtype


# --------------------------------------------------------------------------- bad input


def test_bad_mode_raises_value_error_like_torch():
    with pytest.raises(ValueError):
        torch.nn.init.kaiming_uniform_(torch.empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform((3, 4), mode="fan_avg", rng=np.random.default_rng(0))


@pytest.mark.parametrize("fn", [init.xavier_uniform, init.kaiming_normal, init.lecun_uniform])
def test_scaled_initializers_reject_one_dim_shapes_like_torch(fn):
    with pytest.raises(ValueError, match="fewer than 2"):
        fn((5,), rng=np.random.default_rng(0))


@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)])
def test_rng_must_be_a_numpy_generator(rng):
    with pytest.raises(TypeError, match="rng"):
        init.xavier_normal((3, 4), rng=rng)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda r: init.uniform((3,), 1.0, 0.0, rng=r), ValueError, "a <= b"),
        (lambda r: init.normal((3,), std=-1.0, rng=r), ValueError, "std"),
        (lambda r: init.normal((3, -2), rng=r), ValueError, r"shape\[1\]"),
        (lambda r: init.normal((3, 2.5), rng=r), TypeError, r"shape\[1\]"),
        (lambda r: init.normal("ab", rng=r), TypeError, r"shape\[0\]"),
        (lambda r: init.kaiming_uniform((0, 3), mode="fan_out", rng=r), ValueError, "zero"),
        (lambda r: init.xavier_uniform((3, 4), gain=-1.0, rng=r), ValueError, "gain"),
        (lambda r: init.ones((3,), dtype=np.int64), TypeError, "dtype"),
        (lambda r: init.kaiming_normal((3, 4), nonlinearity="swish", rng=r), ValueError, "swish"),
    ],
)
def test_bad_arguments_raise_errors_that_name_them(call, error, match):
    with pytest.raises(error, match=match):
        call(np.random.default_rng(0))

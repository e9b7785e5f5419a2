"""Tests for zoomtune.nn.batchnorm against torch.nn.BatchNorm1d/2d."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from zoomtune.nn import (  # noqa: E402
    BatchNorm,
    BatchNorm1d,
    BatchNorm2d,
    BatchNormReLU1d,
    BatchNormReLU2d,
    batch_norm,
)
from zoomtune.nn import _bn_kernels  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
BACKENDS = ["auto", "eager"]
SHAPES = [(7, 3), (5, 4, 9), (3, 5, 7, 6), (2, 3), (4, 2, 1), (2, 6, 1, 3), (9, 1, 2, 2)]


def _pair(shape, backend="auto", relu=False, **kw):
    c = shape[1]
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c, **kw)
    ours_cls = {(4, False): BatchNorm2d, (4, True): BatchNormReLU2d}.get(
        (len(shape), relu), BatchNormReLU1d if relu else BatchNorm1d)
    ours = ours_cls(c, backend=backend, **kw)
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _close(a, b, tol=1e-5):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def _step(ref, ours, x, dy, relu=False, tol=1e-5):
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    y1 = ref(x1)
    if relu:
        y1 = torch.relu(y1)
    y2 = ours(x2)
    _close(y2, y1, tol)
    y1.backward(dy)
    y2.backward(dy)
    _close(x2.grad, x1.grad, tol)
    if ref.affine:
        _close(ours.weight.grad, ref.weight.grad, tol)
        _close(ours.bias.grad, ref.bias.grad, tol)
        ref.zero_grad()
        ours.zero_grad()
    if ref.track_running_stats:
        _close(ours.running_mean, ref.running_mean, tol)
        _close(ours.running_var, ref.running_var, tol)
        assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item()
        assert ours.num_batches_tracked.dtype == torch.long


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_matches_torch_train_then_eval(shape, backend, relu):
    torch.manual_seed(0)
    ref, ours = _pair(shape, backend, relu)
    for _ in range(3):
        x = torch.randn(*shape) * 3 + 1.5
        _step(ref, ours, x, torch.randn(*shape), relu)
    ref.eval()
    ours.eval()
    x = torch.randn(*shape) * 3 + 1.5
    _step(ref, ours, x, torch.randn(*shape), relu)
    assert ours.num_batches_tracked.item() == 3


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(300, 250), (45, 48), (70, 33, 40), (9, 17, 6, 7)])
def test_larger_shapes_threads_and_channel_tiles(shape, relu):
    """Multi-threaded kernel paths (>= 65536 values), channel tiles of 16 with a tail,
    row blocks of 32 with a remainder."""
    torch.manual_seed(8)
    ref, ours = _pair(shape, "auto", relu)
    for _ in range(2):
        _step(ref, ours, torch.randn(*shape) * 2 + 0.5, torch.randn(*shape), relu, tol=2e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", [{"momentum": None}, {"affine": False},
                                {"track_running_stats": False}, {"momentum": 0.3, "eps": 1e-3}])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2)])
def test_options_match_torch(shape, backend, kw):
    torch.manual_seed(1)
    ref, ours = _pair(shape, backend, **kw)
    if not ref.track_running_stats:
        assert ours.running_mean is None and ours.num_batches_tracked is None
    for _ in range(4):
        _step(ref, ours, torch.randn(*shape) * 2 - 1, torch.randn(*shape))
    ref.eval()
    ours.eval()  # without running stats, eval still uses batch statistics
    _step(ref, ours, torch.randn(*shape), torch.randn(*shape))
    assert list(ours.state_dict()) == list(ref.state_dict())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 6), c=st.integers(1, 5),
       spatial=st.lists(st.integers(1, 5), min_size=0, max_size=2),
       relu=st.booleans(), backend=st.sampled_from(BACKENDS), seed=st.integers(0, 2**16))
def test_random_shapes(n, c, spatial, relu, backend, seed):
    shape = (n, c, *spatial)
    if n * int(torch.tensor(spatial).prod()) < 2:
        n, shape = 2, (2, c, *spatial)
    torch.manual_seed(seed)
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c)
    ours = BatchNorm(c, backend=backend, activation="relu" if relu else None)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    _step(ref, ours, torch.randn(*shape) * 2 + 1, torch.randn(*shape), relu, tol=2e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 3, 4)])
def test_gradcheck_float64(shape, backend, relu):
    torch.manual_seed(2)
    x = (torch.randn(*shape, dtype=torch.float64) * 2 + 1).requires_grad_()
    w = (torch.rand(shape[1], dtype=torch.float64) + 0.5).requires_grad_()
    b = torch.randn(shape[1], dtype=torch.float64).requires_grad_()
    act = "relu" if relu else None

    def f(x, w, b):
        return batch_norm(x, None, None, w, b, training=True, activation=act, backend=backend)

    assert torch.autograd.gradcheck(f, (x, w, b), eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_no_affine_and_buffers_untouched_by_grad(backend):
    x = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)

    def f(x):
        return batch_norm(x, rm.clone(), rv.clone(), training=True, backend=backend)

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_mean_precision(backend):
    """Mean 1e4, std 1 in float32: ours must be as close to a float64 reference as torch."""
    torch.manual_seed(3)
    for shape in [(512, 8), (16, 4, 6, 6)]:
        x = torch.randn(*shape) + 1e4
        dy = torch.randn(*shape)
        ref64 = torch.nn.BatchNorm2d(shape[1]) if len(shape) == 4 else torch.nn.BatchNorm1d(shape[1])
        ref64 = ref64.double()
        ref32, ours = _pair(shape, backend)
        ref64.load_state_dict(ref32.state_dict())
        results = []
        for mod, dt in [(ref64, torch.float64), (ref32, torch.float32), (ours, torch.float32)]:
            xi = x.to(dt).clone().requires_grad_()
            y = mod(xi)
            y.backward(dy.to(dt))
            results.append([t.double() for t in (y, xi.grad, mod.weight.grad, mod.bias.grad,
                                                 mod.running_mean, mod.running_var)])
        for exact, theirs, mine in zip(*results, strict=True):
            err_torch = (theirs - exact).abs().max().item()
            err_ours = (mine - exact).abs().max().item()
            assert err_ours <= 2 * err_torch + 1e-4 * (1 + exact.abs().max().item()), (
                err_ours, err_torch)
        assert (results[2][1] - results[0][1]).abs().max() < 1e-3  # dx


def test_state_dict_interchange_both_ways():
    torch.manual_seed(4)
    for ref_cls, ours_cls, shape in [(torch.nn.BatchNorm1d, BatchNorm1d, (8, 5)),
                                     (torch.nn.BatchNorm2d, BatchNorm2d, (4, 5, 3, 3)),
                                     (torch.nn.BatchNorm2d, BatchNormReLU2d, (4, 5, 3, 3)),
                                     (torch.nn.BatchNorm1d, BatchNorm, (8, 5, 2))]:
        ref, ours = ref_cls(5), ours_cls(5)
        for _ in range(2):
            ref(torch.randn(*shape) * 2 + 3)
        with torch.no_grad():
            ref.weight.uniform_()
        ours.load_state_dict(ref.state_dict())  # strict: same keys, shapes, dtypes
        for k, v in ref.state_dict().items():
            assert torch.equal(ours.state_dict()[k], v), k
        assert list(ours.state_dict()) == list(ref.state_dict())
        for _ in range(2):
            ours(torch.randn(*shape) - 1)
        back = ref_cls(5)
        back.load_state_dict(ours.state_dict())
        for k, v in ours.state_dict().items():
            assert torch.equal(back.state_dict()[k], v), k
        assert back.num_batches_tracked.item() == 4
        # old (version 1) state dicts without num_batches_tracked still load
        sd = ref.state_dict()
        del sd["num_batches_tracked"]
        sd._metadata[""]["version"] = 1
        ours.load_state_dict(sd)


def test_beta_momentum_mapping():
    assert BatchNorm1d(3).momentum == 0.1
    assert BatchNorm1d(3).beta == pytest.approx(0.9)
    m = BatchNorm2d(3, beta=0.99)
    assert m.momentum == pytest.approx(0.01) and m.beta == pytest.approx(0.99)
    assert BatchNorm1d(3, momentum=0.25).beta == pytest.approx(0.75)
    assert BatchNorm1d(3, momentum=None).beta is None
    assert BatchNorm1d(3, beta=None).momentum == 0.1  # beta=None means "not given"
    m.beta = 0.5
    assert m.momentum == pytest.approx(0.5)
    m.beta = None
    assert m.momentum is None
    with pytest.raises(ValueError, match="either momentum or beta"):
        BatchNorm1d(3, momentum=0.1, beta=0.9)
    with pytest.raises(ValueError, match="beta"):
        BatchNorm1d(3, beta=1.5)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1d(3, momentum=-0.1)
    # running = beta*running + (1-beta)*batch, same as torch's momentum = 1 - beta
    torch.manual_seed(5)
    ref, ours = torch.nn.BatchNorm1d(4, momentum=0.03), BatchNorm1d(4, beta=0.97)
    for _ in range(3):
        x = torch.randn(10, 4) * 2 + 1
        ref(x)
        ours(x)
    _close(ours.running_mean, ref.running_mean)
    _close(ours.running_var, ref.running_var)
    assert "BatchNorm1d(4, eps=1e-05, momentum=" in repr(ours)


def test_errors():
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\).*got shape \(2, 3, 4, 5\)"):
        BatchNorm1d(3)(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*got shape \(2, 3\)"):
        BatchNorm2d(3)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected 4 channels.*got shape \(2, 3, 5\)"):
        BatchNorm1d(4)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"expected 3 channels.*got shape \(2, 5, 2, 2\)"):
        BatchNormReLU2d(3)(torch.randn(2, 5, 2, 2))
    with pytest.raises(ValueError, match="got shape \\(4,\\)"):
        BatchNorm(4)(torch.randn(4))
    for shape in [(1, 3), (1, 3, 1), (1, 3, 1, 1)]:
        m = BatchNorm(3)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            m(torch.randn(*shape))
        with pytest.raises(ValueError):  # torch agrees
            torch.nn.BatchNorm1d(3)(torch.randn(1, 3))
        m.eval()
        assert m(torch.randn(*shape)).shape == shape  # fine with running stats
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3, track_running_stats=False).eval()(torch.randn(1, 3))
    with pytest.raises(ValueError, match="activation"):
        BatchNorm1d(3, activation="gelu")
    with pytest.raises(ValueError, match="backend"):
        BatchNorm1d(3, backend="cuda")
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm1d(0)


def test_generic_batchnorm_any_rank_and_fused_classes():
    torch.manual_seed(6)
    for shape in [(4, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)]:
        x = torch.randn(*shape)
        ref = torch.nn.functional.batch_norm(x, None, None, training=True)
        _close(BatchNorm(3, affine=False)(x), ref)
        _close(BatchNorm(3, affine=False, activation="relu")(x), torch.relu(ref))
    assert BatchNormReLU1d(3).activation == "relu"
    assert BatchNormReLU2d(3, activation=None).activation == "relu"


@pytest.mark.parametrize("backend", BACKENDS)
def test_channels_last_low_precision_and_partial_grads(backend):
    torch.manual_seed(7)
    ref, ours = _pair((4, 6, 5, 3), backend)
    x = (torch.randn(4, 6, 5, 3) * 2).to(memory_format=torch.channels_last)
    _step(ref, ours, x, torch.randn(4, 6, 5, 3))
    # bfloat16 input: statistics in float32, result close to torch's float32 result
    xb = torch.randn(16, 6, 3, 3).bfloat16()
    y = BatchNorm2d(6, backend=backend)(xb)
    assert y.dtype == torch.bfloat16
    _close(y.float(), torch.nn.BatchNorm2d(6)(xb.float()), 2e-2)
    # only the input requires grad (frozen affine parameters)
    m = BatchNorm1d(6, backend=backend)
    m.requires_grad_(False)
    xi = torch.randn(5, 6, requires_grad=True)
    m(xi).sum().backward()
    assert xi.grad is not None and m.weight.grad is None


def test_double_backward_raises():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(BatchNorm1d(3).double()(x).pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_kernel_path_is_used_and_fallback_is_correct(monkeypatch):
    x = torch.randn(6, 4, 3)
    if _bn_kernels.get() is not None:
        calls = []
        real = _bn_kernels.forward
        monkeypatch.setattr(_bn_kernels, "forward", lambda *a: calls.append(1) or real(*a))
        BatchNorm1d(4)(x)
        BatchNorm1d(4, backend="eager")(x)
        assert len(calls) == 1
        monkeypatch.undo()
    # a failed build warns once and falls back to eager, still correct
    monkeypatch.setattr(_bn_kernels, "_state", {"tried": False, "lib": None, "error": None,
                                                "build_seconds": None})

    def broken():
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(_bn_kernels, "_build", broken)
    monkeypatch.delenv("ZOOMTUNE_BN_BACKEND", raising=False)
    ref, ours = _pair((6, 4, 3))
    with pytest.warns(RuntimeWarning, match="eager"):
        _step(ref, ours, x, torch.randn(6, 4, 3))
    assert _bn_kernels.info()["loaded"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _step(ref, ours, x, torch.randn(6, 4, 3))


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": SRC, "PATH": ""}, timeout=60)


def test_import_is_cheap_and_builds_nothing():
    r = _run("import zoomtune.nn.batchnorm, sys\n"
             "from zoomtune.nn import _bn_kernels as k\n"
             "assert not k._state['tried']\n"
             "print('ok')")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_clear_import_error_without_torch():
    r = _run("import sys\nsys.modules['torch'] = None\nimport zoomtune.nn")
    assert r.returncode != 0
    assert "pip install 'zoomtune[torch]'" in r.stderr

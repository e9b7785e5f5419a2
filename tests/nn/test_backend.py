"""The batch-norm backend is an enum (`zoomtune.nn.Backend`): the old strings still work, a bad value is
refused with a message naming it and the choices, and both backends compute what torch's BatchNorm does."""

import copy
import pickle

import pytest

torch = pytest.importorskip("torch")

from zoomtune.errors import ConfigError  # noqa: E402
from zoomtune.nn import Backend, BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormReLU2d, batch_norm  # noqa: E402
from zoomtune.nn import _bn_kernels  # noqa: E402
from zoomtune.nn.recipes import _categorical  # noqa: E402


def test_members_are_their_old_strings():
    assert [m.value for m in Backend] == ["auto", "eager"]
    assert Backend.AUTO == "auto" and Backend.EAGER == "eager"  # a str enum: compares equal to the old strings
    assert str(Backend.EAGER) == "eager" and f"{Backend.AUTO}" == "auto"
    assert Backend("eager") is Backend.EAGER


@pytest.mark.parametrize(("given", "member"), [("auto", Backend.AUTO), ("eager", Backend.EAGER),
                                               (Backend.AUTO, Backend.AUTO), (Backend.EAGER, Backend.EAGER)])
@pytest.mark.parametrize("cls", [BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormReLU2d])
def test_strings_and_members_are_accepted_and_stored_as_the_member(cls, given, member):
    m = cls(3, backend=given)
    assert m.backend is member and type(m.backend) is Backend
    assert cls(3).backend is Backend.AUTO  # the default
    assert copy.deepcopy(m).backend is member
    assert pickle.loads(pickle.dumps(m)).backend is member
    assert "backend" not in str(m.state_dict().keys())  # not part of the state dict: torch's keys only


def test_assigning_a_string_converts_it_and_a_bad_one_is_refused():
    m = BatchNorm1d(3)
    m.backend = "eager"
    assert m.backend is Backend.EAGER
    m.backend = Backend.AUTO
    assert m.backend is Backend.AUTO
    with pytest.raises(ConfigError, match=r"^BatchNorm1d: backend: must be one of 'auto', 'eager'; got 'cpu'$"):
        m.backend = "cpu"
    assert m.backend is Backend.AUTO  # unchanged


def test_a_module_pickled_with_the_old_string_attribute_loads_with_the_member():
    m = BatchNorm2d(3, backend="eager")
    old = {k: v for k, v in m.__dict__.items() if k != "_backend"} | {"backend": "eager"}  # as pickled before
    restored = BatchNorm2d.__new__(BatchNorm2d)
    restored.__setstate__(old)
    assert restored.backend is Backend.EAGER and "backend" not in restored.__dict__
    x = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(restored(x), m(x))


@pytest.mark.parametrize("bad", ["cuda", "Eager", "", None, 1, ["auto"]])
def test_a_bad_backend_is_refused_naming_the_value_and_the_choices(bad):
    with pytest.raises(ConfigError) as caught:
        BatchNorm1d(3, backend=bad)
    message = str(caught.value)
    assert message.startswith("BatchNorm1d: backend: must be one of 'auto', 'eager'"), message
    if bad is not None:
        assert f"got {bad!r}" in message
    assert isinstance(caught.value, ValueError)  # what the old check raised: existing handlers still catch it
    with pytest.raises(ConfigError, match=r"^BatchNorm2d: backend: must be one of 'auto', 'eager'; got 'gpu'$"):
        BatchNorm2d(3, backend="gpu")


def test_the_functional_form_takes_strings_and_members_and_refuses_others():
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    ref = torch.nn.functional.batch_norm(x, None, None, training=True)
    for backend in ("auto", "eager", Backend.AUTO, Backend.EAGER):
        torch.testing.assert_close(batch_norm(x, None, None, training=True, backend=backend), ref)
    with pytest.raises(ConfigError, match=r"^batch_norm: backend: must be one of 'auto', 'eager'; got 'fast'$"):
        batch_norm(x, None, None, training=True, backend="fast")
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        batch_norm(x, torch.zeros(3), None, training=True)


@pytest.mark.parametrize("backend", [Backend.AUTO, Backend.EAGER, "auto", "eager"])
@pytest.mark.parametrize("shape", [(16, 5), (6, 5, 7), (4, 5, 3, 6)])
def test_eager_and_auto_both_equal_torch_batchnorm(backend, shape, monkeypatch):
    torch.manual_seed(1)
    kernel_calls = []
    real = _bn_kernels.forward
    monkeypatch.setattr(_bn_kernels, "forward", lambda *a: kernel_calls.append(1) or real(*a))
    c = shape[1]
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c)
    ours = (BatchNorm2d if len(shape) == 4 else BatchNorm1d)(c, backend=backend)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    for _ in range(3):  # training steps: output, gradients and running statistics
        x = torch.randn(shape) * 2 + 1
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        dy = torch.randn(shape)
        y1, y2 = ref(x1), ours(x2)
        torch.testing.assert_close(y2, y1, rtol=1e-5, atol=1e-5)
        y1.backward(dy)
        y2.backward(dy)
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours.bias.grad, ref.bias.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3
    ref.eval()
    ours.eval()
    x = torch.randn(shape)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    # AUTO takes the fused CPU kernels when they are available; EAGER never does
    expect_kernels = ours.backend is Backend.AUTO and _bn_kernels.get() is not None
    assert (len(kernel_calls) == 3) if expect_kernels else not kernel_calls


def _fresh_kernel_state(monkeypatch):
    monkeypatch.setattr(_bn_kernels, "_state", {"tried": False, "lib": None, "error": None, "build_seconds": None})


@pytest.mark.parametrize("value", ["eager", "EAGER"])
def test_env_var_eager_disables_the_kernels(value, monkeypatch):
    _fresh_kernel_state(monkeypatch)
    monkeypatch.setenv("ZOOMTUNE_BN_BACKEND", value)
    assert _bn_kernels.env_backend() is Backend.EAGER
    assert _bn_kernels.get() is None
    assert _bn_kernels.info()["error"] == "disabled by ZOOMTUNE_BN_BACKEND=eager"


@pytest.mark.parametrize("value", [None, "", "auto", "AUTO"])
def test_env_var_unset_or_auto_is_auto(value, monkeypatch):
    if value is None:
        monkeypatch.delenv("ZOOMTUNE_BN_BACKEND", raising=False)
    else:
        monkeypatch.setenv("ZOOMTUNE_BN_BACKEND", value)
    assert _bn_kernels.env_backend() is Backend.AUTO


def test_a_bad_env_var_is_refused_naming_it_and_the_choices(monkeypatch):
    _fresh_kernel_state(monkeypatch)
    monkeypatch.setenv("ZOOMTUNE_BN_BACKEND", "eagr")
    expected = r"^environment: ZOOMTUNE_BN_BACKEND: must be one of 'auto', 'eager'; got 'eagr'$"
    with pytest.raises(ConfigError, match=expected):
        _bn_kernels.get()
    with pytest.raises(ConfigError, match=expected):  # on first use of the kernels, every time until fixed
        BatchNorm1d(3)(torch.randn(4, 3))
    assert not _bn_kernels._state["tried"]
    BatchNorm1d(3, backend="eager")(torch.randn(4, 3))  # the eager backend never reads it


class _FixedTrial:
    """Hands back fixed values for categorical parameters, as an enqueued or branched trial does."""

    def __init__(self, **values):
        self.values = values

    def suggest_categorical(self, name, choices):
        return self.values[name]


def test_recipe_categoricals_are_narrowed_with_a_clear_error():
    trial = _FixedTrial(batchnorm=True, batch_size=128, optimizer="adam", bad_flag=1, bad_size=128.0,
                        bad_name=None)
    assert _categorical(trial, "batchnorm", [True, False], bool) is True
    assert _categorical(trial, "batch_size", [64, 128], int) == 128
    assert _categorical(trial, "optimizer", ("adam", "sgd"), str) == "adam"
    flag_error = r"^MLPRecipe: bad_flag: must be one of \[True, False\] \(type bool\); got 1$"
    with pytest.raises(ConfigError, match=flag_error):
        _categorical(trial, "bad_flag", [True, False], bool)
    with pytest.raises(ConfigError, match=r"^MLPRecipe: bad_size: must be one of \[64, 128\] \(type int\); got 128.0$"):
        _categorical(trial, "bad_size", [64, 128], int)
    with pytest.raises(ConfigError, match=r"bad_name: must be one of \['adam'\] \(type str\)"):
        _categorical(trial, "bad_name", ["adam"], str)
    with pytest.raises(ConfigError, match=r"\(type int\); got True$"):  # a bool is not an int here
        _categorical(_FixedTrial(n=True), "n", [64, 128], int)

"""Model builders, datasets, the training loop and the recipe, on the tiny digits dataset."""

import gzip
import itertools
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import zoomtune as zt  # noqa: E402
from zoomtune.nn import datasets  # noqa: E402
from zoomtune.nn.batchnorm import BatchNorm1d, BatchNorm2d, BatchNormReLU1d, BatchNormReLU2d  # noqa: E402
from zoomtune.nn.models import MLP, ConvNet  # noqa: E402
from zoomtune.nn.recipes import MLPRecipe  # noqa: E402
from zoomtune.nn.training import fit  # noqa: E402

BN_TYPES = (BatchNorm1d, BatchNorm2d)


def layer_pairs(model):
    return list(itertools.pairwise(model))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_layer_followed_by_batch_norm_has_no_bias(activation):
    for model in (MLP(20, [16, 8], 3, activation=activation), ConvNet(1, 10, (4, 6), size=8, activation=activation)):
        pairs = [(a, b) for a, b in layer_pairs(model) if isinstance(a, (torch.nn.Linear, torch.nn.Conv2d))]
        assert pairs and all(a.bias is None for a, b in pairs if isinstance(b, BN_TYPES))
        assert all(isinstance(b, BN_TYPES) for a, b in pairs)
        assert model[-1].bias is not None  # the output layer keeps its bias


def test_relu_networks_use_the_fused_layer_and_others_do_not():
    assert any(isinstance(m, BatchNormReLU1d) for m in MLP(4, [8], 2))
    assert any(isinstance(m, BatchNormReLU2d) for m in ConvNet(1, 2, (4,), size=4))
    assert not any(isinstance(m, BatchNormReLU1d) for m in MLP(4, [8], 2, activation="tanh"))


def test_without_batch_norm_layers_keep_their_bias():
    model = MLP(20, [16], 3, batchnorm=False)
    assert model[0].bias is not None and not any(isinstance(m, BN_TYPES) for m in model)


def test_bn_beta_reaches_the_layers():
    model = MLP(4, [8, 8], 2, bn_beta=0.99)
    assert [round(m.beta, 6) for m in model if isinstance(m, BN_TYPES)] == [0.99, 0.99]


def test_shapes_and_bad_activation():
    assert ConvNet(1, 10, (8, 16), size=28)(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(4, [8], 2, activation="swishy")


def test_digits_split_is_fixed_and_standardised():
    a, b = datasets.digits(), datasets.digits()
    assert a is b and a.x_train.shape[1] == 64 and a.n_classes == 10
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert abs(float(a.x_train.mean())) < 1e-4
    other = datasets.digits(seed=5)
    assert not torch.equal(other.y_val, a.y_val)


def test_fit_on_digits_reaches_090_in_seconds():
    data = datasets.digits()
    result = fit(MLP(64, [64], 10), data, lr=3e-3, epochs=10, batch_size=64)
    assert result.test_accuracy > 0.9 and result.seconds < 30 and len(result.history) == 10


def test_fit_reports_every_epoch_and_stores_test_accuracy():
    study = zt.create_study(direction="maximize", sampler=zt.samplers.RandomSampler(seed=0))
    study.optimize(MLPRecipe(dataset="digits", epochs=3), n_trials=2)
    for trial in study.trials:
        assert trial.state is zt.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [0, 1, 2]
        assert trial.value == trial.intermediate_values[2]
        assert 0.0 <= trial.user_attrs["test_accuracy"] <= 1.0
        assert {"lr", "beta1", "beta2", "units", "batch_size", "batchnorm"} <= set(trial.params)


class StopAtOnce(zt.schedulers.Scheduler):
    def decide(self, trial, context):
        return zt.schedulers.Decision.STOP


def test_fit_honours_should_stop():
    study = zt.create_study(direction="maximize", scheduler=StopAtOnce(seed=0))
    study.optimize(MLPRecipe(dataset="digits", epochs=5), n_trials=1)
    trial = study.trials[0]
    assert trial.state is zt.TrialState.STOPPED and list(trial.intermediate_values) == [0]


def test_divergence_ends_training_early():
    result = fit(MLP(64, [32], 10, batchnorm=False), datasets.digits(), optimizer="sgd", lr=1e6, epochs=8)
    assert result.diverged and result.epochs < 8 and result.test_accuracy is None


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_from_a_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    for stem, shape in [("train-images-idx3-ubyte", (30, 28, 28)), ("t10k-images-idx3-ubyte", (7, 28, 28))]:
        _write_idx(tmp_path / f"{stem}.gz", rng.integers(0, 255, shape))
    for stem, n in [("train-labels-idx1-ubyte", 30), ("t10k-labels-idx1-ubyte", 7)]:
        _write_idx(tmp_path / f"{stem}.gz", np.arange(n) % 10)
    data = datasets.fashion_mnist(data_dir=str(tmp_path), n_val=10)
    assert data.x_train.shape == (20, 784) and data.x_val.shape == (10, 784) and data.x_test.shape == (7, 784)
    assert data.images(data.x_test).shape == (7, 1, 28, 28) and data.n_classes == 10


def test_missing_fashion_mnist_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setenv("ZOOMTUNE_DATA", str(tmp_path / "nothing"))
    datasets.fashion_mnist.cache_clear()  # a copy found by an earlier test must not answer for this lookup
    with pytest.raises(datasets.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist") as caught:
        datasets.fashion_mnist()
    assert str(tmp_path / "nothing") in str(caught.value) and str(tmp_path / "system") in str(caught.value)


def _write_fashion(folder, skip=()):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem, shape in [("train-images-idx3-ubyte", (30, 28, 28)), ("t10k-images-idx3-ubyte", (7, 28, 28))]:
        if stem not in skip:
            _write_idx(folder / f"{stem}.gz", rng.integers(0, 255, shape))
    for stem, n in [("train-labels-idx1-ubyte", 30), ("t10k-labels-idx1-ubyte", 7)]:
        if stem not in skip:
            _write_idx(folder / f"{stem}.gz", np.arange(n) % 10)


@pytest.mark.parametrize("where", ["missing", "empty", "a file", ""])
def test_an_explicit_data_dir_without_the_files_is_refused_not_replaced(tmp_path, monkeypatch, where):
    """A data_dir that is wrong must not silently fall back to $ZOOMTUNE_DATA or the system copy."""
    _write_fashion(tmp_path / "system")
    monkeypatch.setattr(datasets, "FASHION_DIRS", (str(tmp_path / "system"),))
    monkeypatch.setenv("ZOOMTUNE_DATA", str(tmp_path / "system"))
    assert datasets.fashion_mnist(n_val=10).x_train.shape == (20, 784)  # the default lookup still finds it
    datasets.fashion_mnist.cache_clear()
    given = {"missing": tmp_path / "nonexistent", "empty": tmp_path / "empty", "a file": tmp_path / "file.txt",
             "": ""}[where]
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(zt.errors.ConfigError) as caught:
        datasets.fashion_mnist(data_dir=str(given), n_val=10)
    message = str(caught.value)
    assert message.startswith("data_dir: ") and repr(str(given)) in message
    with pytest.raises(zt.errors.ConfigError):  # the load-by-name path refuses it too
        datasets.load("fashion-mnist", data_dir=str(given), n_val=10)


def test_a_data_dir_missing_some_files_names_them(tmp_path):
    _write_fashion(tmp_path / "partial", skip=("t10k-labels-idx1-ubyte",))
    with pytest.raises(zt.errors.ConfigError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]") as caught:
        datasets.fashion_mnist(data_dir=tmp_path / "partial", n_val=10)
    assert "train-images" not in str(caught.value) and str(tmp_path / "partial") in str(caught.value)


def test_a_data_dir_may_hold_the_files_in_a_fashion_mnist_subfolder(tmp_path):
    _write_fashion(tmp_path / "data" / "fashion-mnist")
    assert datasets.fashion_mnist(data_dir=str(tmp_path / "data"), n_val=10).x_test.shape == (7, 784)


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="dataset-fashion-mnist not installed")
def test_the_installed_fashion_mnist_has_its_real_size():
    data = datasets.fashion_mnist()
    assert data.x_train.shape == (50_000, 784) and len(data.x_test) == 10_000
    assert sorted(torch.bincount(data.y_test).tolist()) == [1000] * 10

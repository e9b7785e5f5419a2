"""The names the README imports from `zoomtune.nn` exist there and are what it says they are."""

import inspect
import subprocess
import sys
import types

import pytest

torch = pytest.importorskip("torch")


def test_the_readme_import_line_works_and_fit_is_the_function():
    from zoomtune.nn import MLP, BatchNorm1d, BatchNorm2d, BatchNormReLU2d, ConvNet, datasets, fit

    assert inspect.isfunction(fit) and fit.__name__ == "fit"
    assert "trial" in inspect.signature(fit).parameters and "checkpoint" in inspect.signature(fit).parameters
    assert isinstance(datasets, types.ModuleType) and datasets.__name__ == "zoomtune.nn.datasets"
    assert callable(datasets.fashion_mnist) and callable(datasets.digits)
    assert all(isinstance(cls, type) and issubclass(cls, torch.nn.Module)
               for cls in (MLP, ConvNet, BatchNorm1d, BatchNorm2d, BatchNormReLU2d))


def test_zoomtune_nn_fit_attribute_is_the_function_even_after_importing_every_submodule():
    # A submodule named `fit` would overwrite (or be overwritten by) the function on the package:
    # importing the submodules (as recipes and the CLI do) must leave `zoomtune.nn.fit` the function.
    import zoomtune.nn
    import zoomtune.nn.recipes
    import zoomtune.nn.training

    assert zoomtune.nn.fit is zoomtune.nn.training.fit
    assert inspect.isfunction(zoomtune.nn.fit)
    assert set(zoomtune.nn.__all__) >= {"BatchNorm1d", "BatchNorm2d", "BatchNormReLU2d", "MLP", "ConvNet", "fit",
                                         "datasets", "FitResult"}
    for name in zoomtune.nn.__all__:
        assert hasattr(zoomtune.nn, name), name


def test_the_readme_import_line_works_in_a_fresh_interpreter():
    """No test-order luck: a clean process, importing zoomtune.nn first thing, gets the function."""
    code = ("from zoomtune.nn import BatchNorm1d, BatchNorm2d, BatchNormReLU2d, MLP, ConvNet, fit, datasets\n"
            "import inspect\n"
            "assert inspect.isfunction(fit), type(fit)\n"
            "print(datasets.__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "zoomtune.nn.datasets"


def test_fit_trains_through_the_public_import():
    from zoomtune.nn import MLP, FitResult, datasets, fit

    result = fit(MLP(64, [32], 10), datasets.digits(), lr=3e-3, epochs=2)
    assert isinstance(result, FitResult) and result.epochs == 2 and len(result.history) == 2

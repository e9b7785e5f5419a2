"""Our batch norm on a CUDA device equals torch's there (runs only where CUDA exists)."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

from zoomtune.nn import BatchNorm1d, BatchNorm2d, BatchNormReLU2d  # noqa: E402


@pytest.mark.parametrize("shape", [(256, 1024), (33, 7, 5), (16, 64, 17, 9)])
@pytest.mark.parametrize("relu", [False, True])
def test_cuda_matches_torch_in_train_and_eval(shape, relu):
    torch.manual_seed(0)
    c = shape[1]
    ref = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c).cuda()
    ours_cls = (BatchNormReLU2d if relu else BatchNorm2d) if len(shape) == 4 else BatchNorm1d
    if relu and len(shape) != 4:
        pytest.skip("fused ReLU covered in 2-D")
    ours = ours_cls(c).cuda()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(ref.state_dict())
    x = (torch.randn(shape, device="cuda") * 3 + 2).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    dy = torch.randn(shape, device="cuda")
    y_ref = ref(x)
    y_ref = torch.relu(y_ref) if relu else y_ref
    y = ours(x2)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    y_ref.backward(dy)
    y.backward(dy)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-5, atol=1e-5)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        expected = torch.relu(ref(x)) if relu else ref(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-4)

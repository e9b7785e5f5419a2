"""Our batch norm as registered PyTorch operators (``torch.ops.zoomtune.batch_norm`` and its backward):
gradients, opcheck, and torch.compile of whole models with no graph break on our layers.

torch.compile runs with backend="aot_eager" (Dynamo + AOTAutograd, which trace our ops through their
fake and autograd registrations, without Inductor's C++ code generation, which takes minutes here).
"""

import copy

import pytest

torch = pytest.importorskip("torch")

from zoomtune.nn import MLP, BatchNorm1d, BatchNorm2d, BatchNormReLU1d, BatchNormReLU2d, ConvNet  # noqa: E402

OP = torch.ops.zoomtune.batch_norm.default
BACKWARD_OP = torch.ops.zoomtune.batch_norm_backward.default


def _inputs(shape, dtype=torch.float64):
    torch.manual_seed(0)
    x = (torch.randn(*shape, dtype=dtype) * 2 + 1).requires_grad_()
    w = (torch.rand(shape[1], dtype=dtype) + 0.5).requires_grad_()
    b = torch.randn(shape[1], dtype=dtype).requires_grad_()
    return x, w, b


@pytest.mark.parametrize("use_kernel", [True, False])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 3, 4)])
def test_gradcheck_of_the_registered_op_in_float64(shape, relu, use_kernel):
    x, w, b = _inputs(shape)

    def f(x, w, b):
        return OP(x, w, b, 1e-5, relu, use_kernel)[0]

    assert torch.autograd.gradcheck(f, (x, w, b), eps=1e-6, atol=1e-6, rtol=1e-5)
    out, mean, inv_std = OP(x, w, b, 1e-5, relu, use_kernel)
    ref = torch.nn.functional.batch_norm(x, None, None, w, b, training=True)
    torch.testing.assert_close(out, torch.relu(ref) if relu else ref)
    torch.testing.assert_close(mean, x.detach().mean((0, *range(2, x.dim()))))
    var = x.detach().var((0, *range(2, x.dim())), unbiased=False)
    torch.testing.assert_close(inv_std, (var + 1e-5).rsqrt())


@pytest.mark.parametrize("relu", [False, True])
def test_opcheck_forward_and_backward_ops(relu):
    x, w, b = _inputs((5, 4, 3))
    torch.library.opcheck(OP, (x, w, b, 1e-5, relu, True))
    x32 = x.detach().float().requires_grad_()
    torch.library.opcheck(OP, (x32, None, None, 1e-3, relu, False))  # float32, no affine, eager maths
    out, mean, inv_std = (t.detach() for t in OP(x, w, b, 1e-5, relu, True))
    dy = torch.randn_like(out)
    torch.library.opcheck(BACKWARD_OP, (dy, x.detach(), out if relu else None, mean, inv_std, w.detach(), True))


def _native_twin(model):
    """`model` with each of our batch-norm layers replaced by torch's (+ ReLU when fused), same state."""
    twin = copy.deepcopy(model)
    for name, child in list(twin.named_children()):
        if isinstance(child, (BatchNorm1d, BatchNorm2d)):
            native = (torch.nn.BatchNorm2d if isinstance(child, BatchNorm2d) else torch.nn.BatchNorm1d)(
                child.num_features)
            native.load_state_dict(child.state_dict())
            setattr(twin, name, torch.nn.Sequential(native, torch.nn.ReLU()) if child.activation == "relu"
                    else native)
    return twin


def _bn_layers(model):
    return [m for m in model.modules()
            if isinstance(m, (BatchNorm1d, BatchNorm2d, torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]


def _train_steps(model, x, y, steps=2):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    outs = []
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        opt.step()
        outs.append(out.detach())
    return outs


CASES = [
    ("mlp", lambda: MLP(12, [16, 8], 3), (24, 12)),
    ("convnet", lambda: ConvNet(2, 3, (4, 6), size=8), (6, 2, 8, 8)),
]


@pytest.mark.parametrize(("name", "build", "shape"), CASES, ids=[c[0] for c in CASES])
def test_compiled_model_has_no_graph_break_and_matches_eager_and_native(name, build, shape):
    torch.manual_seed(1)
    model = build()
    x, y = torch.randn(*shape), torch.randint(0, 3, (shape[0],))
    n_layers = len(_bn_layers(model))
    assert n_layers == 2

    explained = torch._dynamo.explain(copy.deepcopy(model))(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    code = explained.graphs[0].code
    assert code.count("torch.ops.zoomtune.batch_norm") == n_layers, code  # one op per layer

    eager, native = copy.deepcopy(model), _native_twin(model)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)  # fullgraph: a break would raise
    got, want, ref = _train_steps(compiled, x, y), _train_steps(eager, x, y), _train_steps(native, x, y)
    for a, b, c in zip(got, want, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-5)
    for p, q in zip(model.parameters(), native.parameters(), strict=True):  # same weights after SGD steps
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(_bn_layers(model), _bn_layers(native), strict=True):
        torch.testing.assert_close(ours.running_mean, theirs.running_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.running_var, theirs.running_var, rtol=1e-4, atol=1e-5)
        assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 2

    # state dicts load both ways, layer by layer, and eval mode (running statistics) equals native's, compiled too
    fresh = build()
    for ours, theirs, blank in zip(_bn_layers(model), _bn_layers(native), _bn_layers(fresh), strict=True):
        theirs.load_state_dict(ours.state_dict())
        blank.load_state_dict(theirs.state_dict())
    fresh.load_state_dict(model.state_dict())
    for module in (model, native, fresh):
        module.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), native(x), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fresh(x), native(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("cls", "native_cls", "shape", "backend"),
                         [(BatchNormReLU1d, torch.nn.BatchNorm1d, (16, 5), "auto"),
                          (BatchNormReLU2d, torch.nn.BatchNorm2d, (4, 5, 3, 3), "eager")])
def test_compiled_fused_relu_layer_matches_native_bn_relu(cls, native_cls, shape, backend):
    torch.manual_seed(2)
    ours, native = cls(5, backend=backend), native_cls(5)
    with torch.no_grad():
        native.weight.uniform_(0.5, 1.5)
        native.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(native.state_dict())
    compiled = torch.compile(ours, backend="aot_eager", fullgraph=True)
    for _ in range(2):
        x = (torch.randn(*shape) * 2 + 1).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        dy = torch.randn(*shape)
        out, ref = compiled(x), torch.relu(native(x2))
        torch.testing.assert_close(out, ref)
        assert (out == 0).any()  # the ReLU is really applied
        out.backward(dy)
        ref.backward(dy)
        torch.testing.assert_close(x.grad, x2.grad)
        torch.testing.assert_close(ours.weight.grad, native.weight.grad)
        torch.testing.assert_close(ours.bias.grad, native.bias.grad)
        ours.zero_grad()
        native.zero_grad()
    torch.testing.assert_close(ours.running_mean, native.running_mean)
    torch.testing.assert_close(ours.running_var, native.running_var)

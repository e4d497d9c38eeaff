"""minidl.nn.Module machinery: registration, traversal, state_dict round trip and loading errors,
train/eval, device/dtype moves, hooks, repr; Parameter; the containers."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import minidl
from minidl import nn


class Affine(nn.Module):
    """y = x W^T + b with a buffer; uses only core ops (no functional needed)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(minidl.randn(n_out, n_in))
        self.bias = nn.Parameter(minidl.zeros(n_out))
        self.register_buffer("calls", minidl.zeros(1))
        self.register_buffer("scratch", minidl.zeros(2), persistent=False)

    def forward(self, x):
        with minidl.no_grad():
            self.calls.add_(1)
        return x @ self.weight.t() + self.bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(Affine(3, 4), nn.ReLU(), Affine(4, 2))
        self.head = Affine(2, 1)
        self.scale = nn.Parameter(minidl.ones(1))

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


# ---- registration and traversal ---------------------------------------------------------------
def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
                     "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "body.0.calls", "body.0.scratch", "body.2.calls", "body.2.scratch", "head.calls",
        "head.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "body.2",
                                                  "head"]
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "Affine"]
    assert len(list(net.modules())) == 6
    assert len(list(net.parameters())) == 7 and len(list(net.buffers())) == 6
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.get_submodule("body.2") is net.body[2]
    assert net.get_parameter("body.0.bias") is net.body[0].bias


def test_shared_parameters_and_modules_are_listed_once():
    shared = Affine(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "0.calls", "1.weight", "1.bias",
                                      "1.calls"]


def test_setattr_rules_and_errors():
    m = Affine(2, 2)
    m.bias = None  # a registered parameter may become None
    assert m.bias is None and "bias" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
        m.weight = minidl.zeros(2, 2)
    with pytest.raises(TypeError, match="cannot assign .* as buffer 'calls'"):
        m.calls = 3
    m.calls = minidl.ones(1)  # a tensor may replace a buffer
    assert m._buffers["calls"] is m.calls
    m.plain = 5
    assert m.plain == 5 and "plain" not in m._parameters
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", minidl.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="cannot assign .* object to parameter 'x'"):
        m.register_parameter("x", minidl.zeros(1))
    with pytest.raises(AttributeError, match="'Affine' object has no attribute 'nope'"):
        m.nope
    del m.weight
    assert "weight" not in m._parameters

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(minidl.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_non_leaf_parameter_assignment_rejected():
    m = nn.Module()
    p = nn.Parameter(minidl.ones(2))
    with pytest.raises(TypeError):
        m.register_parameter("w", p * 2)


def test_forward_missing():
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(1)


# ---- state dict ------------------------------------------------------------------------------
def test_state_dict_round_trip():
    minidl.manual_seed(0)
    a = Net()
    x = minidl.randn(5, 3)
    a(x)
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "body.0.weight", "body.0.bias", "body.0.calls", "body.2.weight",
                        "body.2.bias", "body.2.calls", "head.weight", "head.bias", "head.calls"]
    assert all(not v.requires_grad for v in sd.values())
    b = Net()
    assert not np.allclose(a(x).detach().numpy(), b(x).detach().numpy())
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy(), err_msg=k)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_state_dict_values_share_storage_and_keep_vars():
    m = Affine(2, 2)
    sd = m.state_dict()
    with minidl.no_grad():
        m.bias.add_(1.0)
    np.testing.assert_array_equal(sd["bias"].numpy(), [1.0, 1.0])
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_load_state_dict_strict_errors():
    m = Affine(3, 2)
    sd = dict(m.state_dict())
    sd.pop("bias")
    sd["extra"] = minidl.zeros(1)
    sd["sub.thing"] = minidl.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert msg == ('Error(s) in loading state_dict for Affine:\n\t'
                   'Missing key(s) in state_dict: "bias". \n\t'
                   'Unexpected key(s) in state_dict: "extra", "sub.thing". ')
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["extra", "sub.thing"]
    missing, unexpected = res
    assert missing == ["bias"]


def test_load_state_dict_size_mismatch_names_both_shapes():
    m = Affine(3, 2)
    sd = m.state_dict()
    sd["weight"] = minidl.zeros(4, 3)
    for strict in (True, False):  # size mismatches raise even when not strict, like PyTorch
        with pytest.raises(RuntimeError) as e:
            m.load_state_dict(sd, strict=strict)
        assert ("size mismatch for weight: copying a param with shape [4, 3] from checkpoint, "
                "the shape in current model is [2, 3].") in str(e.value)


def test_load_state_dict_nested_prefixes_and_numpy_values():
    net = Net()
    sd = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd["body.0.weight"][...] = 7.0
    other = Net()
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.body[0].weight.detach().numpy(), np.full((4, 3), 7.0))
    sd2 = dict(net.state_dict())
    sd2["body.5.weight"] = minidl.zeros(1)  # a child that does not exist
    with pytest.raises(RuntimeError, match='Unexpected key.*"body.5.weight"'):
        other.load_state_dict(sd2)


def test_load_keeps_parameter_identity():
    m = Affine(2, 2)
    w = m.weight
    m.load_state_dict(Affine(2, 2).state_dict())
    assert m.weight is w


# ---- modes, grads, apply, dtype ----------------------------------------------------------------
def test_train_eval_propagate():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.body.train(False)
    assert net.training and not net.body[0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_requires_grad_apply():
    net = Net()
    net(minidl.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Affine", "ReLU", "Affine", "Sequential", "Affine", "Net"]


def test_to_dtype_in_place():
    net = Net()
    w = net.body[0].weight
    net.zero_grad()
    net(minidl.randn(2, 3)).sum().backward()
    assert net.double() is net
    assert net.body[0].weight is w and w.dtype == minidl.float64
    assert w.grad.dtype == minidl.float64
    assert net.head.calls.dtype == minidl.float64
    out = net(minidl.randn(2, 3, dtype=minidl.float64))
    assert out.dtype == minidl.float64
    net.to(dtype=minidl.float32)
    assert w.dtype == minidl.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(minidl.int64)


@pytest.mark.cuda
def test_to_cuda_moves_everything_in_place():
    net = Net()
    net(minidl.randn(2, 3)).sum().backward()
    params = list(net.parameters())
    bufs = list(net.buffers())
    assert net.to("cuda") is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert [id(b) for b in net.buffers()] == [id(b) for b in bufs]
    for t in params + bufs + [p.grad for p in params]:
        assert t.device.type == "cuda"
    out = net(minidl.randn(2, 3, device="cuda"))
    assert out.device.type == "cuda"
    ref = [p.detach().cpu().numpy() for p in params]
    net.cpu()
    assert all(p.device.type == "cpu" for p in net.parameters())
    for p, r in zip(net.parameters(), ref):
        np.testing.assert_array_equal(p.detach().numpy(), r)
    net.cuda()
    assert all(b.device.type == "cuda" for b in net.buffers())


# ---- hooks -----------------------------------------------------------------------------------
def test_forward_hooks():
    m = Affine(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0.0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1.0

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    out = m(minidl.ones(1, 2))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(out.detach().numpy(), [[1.0, 1.0]])  # bias 0, input zeroed, +1
    h1.remove()
    h2.remove()
    out = m(minidl.ones(1, 2))
    assert calls == ["pre", "post"]
    assert not np.allclose(out.detach().numpy(), 1.0)


def test_hook_order_prepend_kwargs_and_context_manager():
    order = []

    class Echo(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Echo()
    m.register_forward_hook(lambda mod, a, o: order.append("a"))
    m.register_forward_hook(lambda mod, a, o: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": 3.0}), with_kwargs=True)
    seen = []
    with m.register_forward_hook(lambda mod, a, kw, o: seen.append(kw), with_kwargs=True):
        out = m(minidl.ones(1))
    assert order == ["b", "a"] and seen == [{"scale": 3.0}]
    assert float(out.item()) == 3.0
    m(minidl.ones(1))
    assert len(seen) == 1  # removed on exit


# ---- repr ------------------------------------------------------------------------------------
def test_repr_tree_like_torch():
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Linear(84, 10, bias=False)),
        nn.Dropout(0.5),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))\n"
        "  (1): Tanh()\n"
        "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (3): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=84, out_features=10, bias=False)\n"
        "  )\n"
        "  (4): Dropout(p=0.5, inplace=False)\n"
        ")")
    ml = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.Tanh()])
    assert repr(ml) == "ModuleList(\n  (0-2): 3 x ReLU()\n  (3): Tanh()\n)"
    assert repr(nn.ModuleList()) == "ModuleList()"


# ---- Parameter -------------------------------------------------------------------------------
def test_parameter():
    t = minidl.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, minidl.Tensor) and p.is_leaf and p.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    t.add_(1.0)  # shares storage with the tensor it was made from
    np.testing.assert_array_equal(p.detach().numpy(), [2.0, 3.0])
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    with pytest.raises(TypeError):
        nn.Parameter([1.0, 2.0])
    q = copy.deepcopy(p)
    assert type(q) is nn.Parameter and q.requires_grad and q is not p
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is nn.Parameter


def test_deepcopy_module():
    net = Net()
    net2 = copy.deepcopy(net)
    x = minidl.randn(2, 3)
    np.testing.assert_array_equal(net(x).detach().numpy(), net2(x).detach().numpy())
    assert net2.body[0].weight is not net.body[0].weight
    assert isinstance(net2.body[0].weight, nn.Parameter)


# ---- containers ------------------------------------------------------------------------------
def test_sequential_indexing_slicing_append():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b
    assert seq.append(c) is seq and len(seq) == 3 and seq[2] is c
    sl = seq[1:]
    assert type(sl) is nn.Sequential and list(sl) == [b, c]
    assert list(sl._modules) == ["1", "2"]  # slices keep the names, like torch
    with pytest.raises(IndexError):
        seq[3]
    seq[0] = nn.Identity()
    assert isinstance(seq[0], nn.Identity)
    del seq[0]
    assert list(seq) == [b, c] and list(seq._modules) == ["0", "1"]
    seq.insert(0, a)
    assert list(seq) == [a, b, c]
    named = nn.Sequential(OrderedDict([("act", a), ("out", b)]))
    assert named.act is a and list(named.state_dict()) == []
    x = minidl.tensor([-1.0, 2.0])
    np.testing.assert_allclose(nn.Sequential(nn.ReLU(), nn.Tanh())(x).numpy(), np.tanh([0, 2.0]),
                               rtol=1e-6)
    assert len(seq + named) == 5


def test_module_list_and_dict():
    layers = nn.ModuleList([Affine(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(Affine(2, 2))
    layers.extend([nn.ReLU()])
    assert len(layers) == 5 and isinstance(layers[-1], nn.ReLU)
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    with pytest.raises(TypeError):
        layers.extend(nn.ReLU())

    d = nn.ModuleDict({"enc": Affine(2, 3), "act": nn.ReLU()})
    assert "enc" in d and len(d) == 2 and list(d.keys()) == ["enc", "act"]
    d["dec"] = Affine(3, 2)
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight",
                                                    "dec.bias"]
    assert isinstance(d.pop("act"), nn.ReLU) and "act" not in d
    d.update([("x", nn.Tanh())])
    assert list(d) == ["enc", "dec", "x"]

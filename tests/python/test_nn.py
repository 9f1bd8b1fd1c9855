"""attn.nn from Python: Python subclasses of Module built from the C++ layers, registration and
state_dict naming as PyTorch, a model checked end to end against PyTorch (tests/fixtures/nn),
training a tiny regression, state_dict round trips through safetensors files."""
import gc
from collections import OrderedDict

import numpy as np
import pytest

import attn
from attn import nn
from attn import functional as F
from conftest import FIXTURES, assert_close, fixture


# The model of tools/fixtures/nn.py, written with attn.nn exactly as the PyTorch original.
class Layer(nn.Module):
    def __init__(self, d, f, approximate):
        super().__init__()
        self.linear1 = nn.Linear(d, f)
        self.activation = nn.GELU(approximate=approximate)
        self.dropout = nn.Dropout(0.1)
        self.linear2 = nn.Linear(f, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        return self.norm(x + self.linear2(self.dropout(self.activation(self.linear1(x)))))


class Encoder(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.layers = nn.ModuleList([Layer(d, f, "none"), Layer(d, f, "tanh")])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    def __init__(self, vocab=7, d=4, f=8, classes=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        self.register_buffer("position_ids", attn.arange(5))
        self.register_buffer("scratch", attn.zeros(2), persistent=False)
        self.encoder = Encoder(d, f)
        self.head = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, classes, bias=False))
        self.final_norm = nn.LayerNorm(classes, elementwise_affine=False)

    def forward(self, tokens):
        return self.final_norm(self.head(self.encoder(self.embed(tokens))))


def test_tiny_encoder_matches_pytorch():
    fx = fixture("nn", "tiny_encoder")
    meta = attn.load_metadata(FIXTURES / "nn" / "tiny_encoder.safetensors")
    net = Net().double()
    # Same keys, same order as PyTorch's state_dict and named_parameters.
    assert list(net.state_dict()) == meta["keys"].split(",")
    assert [n for n, _ in net.named_parameters()] == meta["parameters"].split(",")
    result = net.load_state_dict({k[3:]: v for k, v in fx.items() if k.startswith("sd.")})
    assert result.missing_keys == [] and result.unexpected_keys == []
    net.eval()
    assert not net.encoder.layers[0].dropout.training
    logits = net(fx["tokens"])
    assert_close(logits, fx["logits"], rtol=1e-10, atol=1e-12)  # float64 throughout
    loss = F.cross_entropy(logits.transpose(1, 2), fx["targets"], label_smoothing=0.1)
    assert_close(loss, fx["loss"], rtol=1e-10, atol=1e-12)
    loss.backward()
    for name, p in net.named_parameters():
        assert_close(p.grad, fx[f"grad.{name}"], rtol=1e-9, atol=1e-12, msg=name)


def test_activation_modules_match_pytorch():
    fx = fixture("nn", "activations")
    mods = {"relu": nn.ReLU(), "gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "tanh": nn.Tanh(),
            "sigmoid": nn.Sigmoid(), "silu": nn.SiLU(), "softmax": nn.Softmax(dim=1), "log_softmax": nn.LogSoftmax(dim=1)}
    for name, m in mods.items():
        x = fx["x"].clone().requires_grad_()
        y = m(x)
        assert_close(y, fx[f"out_{name}"], rtol=1e-12, atol=1e-14, msg=name)
        y.backward(fx[f"grad_out_{name}"])
        assert_close(x.grad, fx[f"grad_x_{name}"], rtol=1e-12, atol=1e-14, msg=name)


def test_registration_and_naming():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(attn.ones(3))
            self.fc = nn.Linear(3, 2)
            self.plain = attn.zeros(2)  # a plain tensor attribute is not registered (as torch)
            self.register_buffer("count", attn.zeros(1, dtype=attn.int64))

        def forward(self, x):
            return self.fc(x * self.scale)

    m = M()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert list(m.state_dict()) == ["scale", "count", "fc.weight", "fc.bias"]
    assert [n for n, _ in m.named_buffers()] == ["count"]
    assert isinstance(m.scale, nn.Parameter) and m.scale.requires_grad and m.scale.is_leaf
    assert m.num_parameters() == 3 + 6 + 2
    assert [n for n, _ in m.named_children()] == ["fc"] and [n for n, _ in m.named_modules()] == ["", "fc"]
    assert m.get_parameter("fc.weight").shape == (2, 3) and m.get_submodule("fc") is m.fc
    # The attribute is the registry's own handle: gradients land where named_parameters sees them.
    m(attn.ones(4, 3)).sum().backward()
    assert dict(m.named_parameters())["scale"].grad is not None and m.scale.grad is not None
    m.zero_grad()
    assert m.scale.grad is None and m.fc.weight.grad is None
    assert repr(m) == "M(\n  (fc): Linear(in_features=3, out_features=2, bias=True)\n)"
    # replacing a child keeps its name and position
    m.fc = nn.Linear(3, 2, bias=False)
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc.weight"]
    with pytest.raises(attn.AttnError, match="already"):
        m.register_buffer("scale", attn.zeros(1))


def test_module_errors():
    class NoInit(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        NoInit()

    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="forward"):
        NoForward()(attn.ones(1))
    with pytest.raises(attn.AttnError, match=r"expected input \[\.\.\., 2\], got float32\[3, 3\]"):
        nn.Linear(2, 3)(attn.ones(3, 3))


def test_extra_repr_override_and_sequential():
    class Scale(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            return x * self.k

        def extra_repr(self):
            return f"k={self.k}"

    seq = nn.Sequential(nn.Linear(3, 4), Scale(2.0), nn.ReLU())
    assert repr(seq).splitlines()[2] == "  (1): Scale(k=2.0)"
    assert len(seq) == 3 and isinstance(seq[1], Scale) and isinstance(seq[-1], nn.ReLU)
    x = attn.randn(5, 3)
    assert_close(seq(x), F.relu(seq[0](x) * 2.0))
    seq.append(nn.Identity())
    assert len(seq) == 4 and [type(m).__name__ for m in seq] == ["Linear", "Scale", "ReLU", "Identity"]
    named = nn.Sequential(OrderedDict([("proj", nn.Linear(3, 3)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["proj.weight", "proj.bias"]
    assert len(seq[:2]) == 2


def test_train_eval_dropout_and_to():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert model.training and model[1].training
    assert model.eval() is model and not model[1].training
    x = attn.randn(3, 4)
    assert_close(model(x), model[0](x))  # dropout is the identity in eval
    model.train()
    assert model[1].training
    model.double()
    assert model[0].weight.dtype is attn.float64 and model(x.double()).dtype is attn.float64
    w = model[0].weight
    model.to(attn.float32)
    assert w.dtype is attn.float32  # handles stay valid through to()


def test_python_modules_survive_as_children():
    class Leaf(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(attn.ones(1))

        def forward(self, x):
            return x * self.p

    outer = nn.Sequential(Leaf())
    gc.collect()
    child = outer[0]
    assert isinstance(child, Leaf)  # the same Python object, not a bare C++ Module
    assert outer(attn.ones(2)).tolist() == [1.0, 1.0]
    assert repr(outer) == "Sequential(\n  (0): Leaf()\n)"


def test_init_functions_fill_in_place():
    w = attn.empty(64, 32)
    assert nn.init.zeros_(w) is w and w.numpy().max() == 0
    nn.init.xavier_uniform_(w)
    bound = np.sqrt(6 / (64 + 32))
    assert np.abs(w.numpy()).max() <= bound and w.numpy().std() > bound / 4
    nn.init.constant_(w, 0.5)
    assert (w.numpy() == 0.5).all()
    assert nn.init.calculate_gain("relu") == pytest.approx(np.sqrt(2))
    lin = nn.Linear(5, 2)
    with attn.no_grad():
        nn.init.normal_(lin.weight, std=0.01)
    assert np.abs(lin.weight.detach().numpy()).max() < 0.1


def test_linear_regression_trains_to_low_loss():
    attn.manual_seed(0)
    x = attn.randn(64, 3)
    true_w = attn.tensor([[2.0, -1.0, 0.5]])
    y = x @ true_w.T + 0.3
    model = nn.Linear(3, 1)
    opt = attn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.MSELoss()
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 1e-6 < first
    assert_close(model.weight, true_w, rtol=1e-3, atol=1e-3)
    assert_close(model.bias, [0.3], rtol=1e-3, atol=1e-3)


def test_classifier_trains_with_adamw_and_cross_entropy():
    attn.manual_seed(1)
    x = attn.randn(128, 2)
    labels = (x[:, 0] * x[:, 1] > 0).long()  # XOR-like quadrants: needs the hidden layer
    model = nn.Sequential(nn.Linear(2, 16), nn.GELU(), nn.Linear(16, 2))
    opt = attn.optim.AdamW(model.parameters(), lr=0.05)
    sched = attn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200)
    for _ in range(200):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
    acc = (model(x).argmax(dim=1) == labels).float().mean().item()
    assert acc > 0.95 and loss.item() < 0.2


def test_state_dict_round_trip_through_files(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4), nn.LayerNorm(4), nn.Linear(4, 3))
    path = tmp_path / "model.safetensors"
    attn.save_file(model.state_dict(), path, metadata={"epoch": "7"})
    assert attn.load_metadata(path) == {"epoch": "7"}
    other = nn.Sequential(nn.Embedding(10, 4), nn.LayerNorm(4), nn.Linear(4, 3))
    other.load_state_dict(attn.load_file(path))
    ids = attn.tensor([[1, 2, 3]])
    np.testing.assert_array_equal(other(ids).detach().numpy(), model(ids).detach().numpy())
    # the checkpoint format (attn/io/state_dict.h): versioned, same tensors
    attn.io.save_state_dict(model, tmp_path / "ckpt.safetensors")
    sd = attn.io.load_state_dict(tmp_path / "ckpt.safetensors")
    assert list(sd) == list(model.state_dict())


def test_load_state_dict_strictness():
    model = nn.Linear(3, 2)
    sd = model.state_dict()
    with pytest.raises(attn.AttnError, match='Missing key.*"bias"'):
        model.load_state_dict({"weight": sd["weight"]})
    r = model.load_state_dict({"weight": sd["weight"], "extra": attn.zeros(1)}, strict=False)
    assert r.missing_keys == ["bias"] and r.unexpected_keys == ["extra"]
    with pytest.raises(attn.AttnError, match=r"\[2, 3\].*\[3, 3\]|\[3, 3\].*\[2, 3\]"):
        model.load_state_dict({"weight": attn.zeros(3, 3), "bias": sd["bias"]})
    # numpy arrays are accepted as values
    model.load_state_dict({"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    assert model.weight.tolist() == [[1.0] * 3] * 2


def test_embedding_and_loss_modules():
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert emb.weight[0].tolist() == [0.0, 0.0, 0.0] and emb.padding_idx == 0
    out = emb(attn.tensor([[0, 4]]))
    out.sum().backward()
    assert emb.weight.grad[0].tolist() == [0.0, 0.0, 0.0] and emb.weight.grad[4].tolist() == [1.0, 1.0, 1.0]
    pre = nn.Embedding.from_pretrained(attn.eye(3))
    assert not pre.weight.requires_grad
    ce = nn.CrossEntropyLoss(ignore_index=1, reduction="sum", label_smoothing=0.1)
    assert ce.reduction == "sum" and ce.ignore_index == 1
    logits, target = attn.randn(4, 3), attn.tensor([0, 1, 2, 1])
    assert_close(ce(logits, target), F.cross_entropy(logits, target, ignore_index=1, reduction="sum", label_smoothing=0.1))
    weighted = nn.CrossEntropyLoss(weight=attn.tensor([1.0, 2.0, 3.0]))
    assert list(weighted.state_dict()) == ["weight"]  # a buffer, as torch's _WeightedLoss
    assert_close(nn.NLLLoss()(F.log_softmax(logits, 1), target), F.cross_entropy(logits, target))

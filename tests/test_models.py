"""Shapes, sizes and errors of the feature-extracting networks in imbnb.models."""

from __future__ import annotations

import pytest
import torch

from imbnb.models import ARCHS, EmbeddingCNN, MLPHead, make_model, parse_arch

torch.set_num_threads(2)

INPUTS = [(1, 28), (3, 32), (1, 8)]  # Fashion-MNIST, CIFAR-10/SVHN, sklearn digits


def n_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(("channels", "size"), INPUTS)
def test_output_and_embedding_shapes(arch: str, channels: int, size: int) -> None:
    torch.manual_seed(0)
    model = make_model(arch, in_channels=channels, n_classes=7, input_size=size).eval()
    assert isinstance(model, EmbeddingCNN)
    x = torch.rand(5, channels, size, size)
    z = model.embed(x)
    logits = model(x)
    assert logits.shape == (5, 7)
    assert z.shape == (5, model.embedding_dim)
    assert model.embedding_dim == (64 if arch == "resnet-small" else 120)
    assert torch.equal(model.classify(z), logits)
    assert model.n_classes == 7
    assert model.input_shape == (channels, size, size)


@pytest.mark.parametrize(
    ("arch", "channels", "size", "flat", "params"),
    [
        # ADOS thesis 6.1: the Fashion-MNIST network has 52,186 trainable parameters
        ("C6-C16-F120", 1, 28, 400, 52_186),
        # ADOS thesis 6.2: the CIFAR-10/SVHN network has 714,780 trainable parameters
        ("C20-C50-F500-F120", 3, 32, 1250, 714_780),
        ("C6-C16-F400-F120", 1, 28, 400, None),
        ("C6-C16-F400-F120", 1, 8, 64, None),
    ],
)
def test_sizes_match_the_thesis(
    arch: str, channels: int, size: int, flat: int, params: int | None
) -> None:
    model = make_model(arch, in_channels=channels, n_classes=10, input_size=size)
    assert model.flatten_dim == flat
    if params is not None:
        assert n_trainable(model) == params


def test_dense_layers_follow_the_spec() -> None:
    model = make_model("C6-C16-F400-F120", in_channels=1, n_classes=10, input_size=28)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(400, 400), (400, 120), (120, 10)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size) for m in convs] == [(6, (5, 5)), (16, (5, 5))]


def test_parse_arch() -> None:
    assert parse_arch("C20-C50-F500-F120") == ([20, 50], [500, 120])
    with pytest.raises(ValueError, match="F0"):
        parse_arch("C6-F0")


@pytest.mark.parametrize("bad", ["vgg16", "C6-C16", "F120-C6", "", "resnet"])
def test_invalid_arch_names_arch_and_allowed_values(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        make_model(bad, in_channels=1, n_classes=10, input_size=28)
    msg = str(err.value)
    assert repr(bad) in msg
    assert all(a in msg for a in ARCHS)


def test_input_too_small_and_explicit_padding() -> None:
    with pytest.raises(ValueError, match="too small"):
        make_model("C6-C16-C32-C64-F120", in_channels=1, n_classes=2, input_size=8)
    model = make_model("C6-C16-F120", in_channels=1, n_classes=2, input_size=28, padding=0)
    assert model.flatten_dim == 16 * 4 * 4  # valid convs: 28 -> 24 -> 12 -> 8 -> 4
    with pytest.raises(ValueError, match="padding"):
        make_model("C6-C16-F120", in_channels=1, n_classes=2, input_size=28, padding=[2])


def test_resnet_options() -> None:
    model = make_model(
        "resnet-small", in_channels=3, n_classes=4, input_size=32, width=8, blocks_per_stage=2
    ).eval()
    assert model.embedding_dim == 32
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 4)


def test_mlp_head() -> None:
    torch.manual_seed(0)
    head = MLPHead(120, 5).eval()
    x = torch.rand(6, 120)
    assert head(x).shape == (6, 5)
    assert head.embed(x).shape == (6, 128) and head.embedding_dim == 128
    linear = MLPHead(10, 3, hidden=())
    assert torch.equal(linear.embed(x[:, :10]), x[:, :10])
    assert len([m for m in MLPHead(4, 2, dropout=0.5).modules() if isinstance(m, torch.nn.Dropout)])
    with pytest.raises(ValueError, match="dropout"):
        MLPHead(4, 2, dropout=1.0)

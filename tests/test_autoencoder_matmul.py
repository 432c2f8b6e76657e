"""The autoencoder's whole-input layers as GEMMs: the same mathematics as the convolutions.

At 28x28 the encoder's last conv (4x4 from 3x3 to 1x1) and the decoder's first transposed
conv (1x1 back to 3x3) cover their whole input or output in one kernel window, so
:class:`ConvAutoencoder` computes them as matrix products. These tests hold that form to the
convolutional one: outputs and gradients (inputs and every parameter) in float64 to 1e-6, a
float32 bound, unchanged state_dict keys and shapes, and old state_dicts loading unchanged.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imbnb.autoencoders import (
    ConvAutoencoder,
    WholeInputConv2d,
    WholeOutputConvTranspose2d,
    conv_sizes,
    default_matmul,
    kl_divergence,
)

WHOLE = (WholeInputConv2d, WholeOutputConvTranspose2d)
BOOK_SIZES = [(1, 28), (3, 32)]  # Fashion-MNIST / MNIST and CIFAR-like inputs


class OldConvAutoencoder(nn.Module):
    """The module before this change (imbnb at /work/ref), convolutions only: the reference."""

    def __init__(self, in_channels: int, input_size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.sizes = [input_size, *conv_sizes(input_size)]
        chans = [in_channels, width, 2 * width, 4 * width, 8 * width]
        self.enc_blocks = nn.ModuleList()
        for i in range(4):
            layers: list[nn.Module] = [nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(chans[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
            self.enc_blocks.append(nn.Sequential(*layers))
        self.flat_dim = chans[4] * self.sizes[4] ** 2
        self.fc_mu = nn.Linear(self.flat_dim, latent_dim)
        self.fc_dec = nn.Linear(latent_dim, self.flat_dim)
        self.dec_blocks = nn.ModuleList()
        for i in range(4, 0, -1):
            out_pad = self.sizes[i - 1] - 2 * self.sizes[i]
            conv = nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, output_padding=out_pad)
            last = i == 1
            layers = [conv] if last else [conv, nn.BatchNorm2d(chans[i - 1]), nn.ReLU()]
            self.dec_blocks.append(nn.Sequential(*layers))
        self._top = chans[4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x`` (deterministic autoencoder)."""
        h = x
        for block in self.enc_blocks:
            h = block(h)
        h = F.relu(self.fc_dec(self.fc_mu(h.flatten(1))))
        h = h.view(-1, self._top, self.sizes[4], self.sizes[4])
        for block in self.dec_blocks:
            h = block(h)
        return torch.tanh(h)


def _pair(channels: int, size: int, *, width: int = 4, variational: bool = False, dtype=None):
    """The GEMM form and the conv form of one network, with identical parameters."""
    torch.manual_seed(0)
    new = ConvAutoencoder(channels, size, width=width, latent_dim=6, variational=variational)
    new = new.to(dtype or torch.float32)
    for p in new.parameters():  # random biases and BatchNorm affines, not the 0 / 1 defaults
        p.data.add_(0.1 * torch.randn_like(p))
    return new, copy.deepcopy(new).set_matmul(False)


def _outputs_and_grads(model: ConvAutoencoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every output and the gradients of a loss touching all of them (inputs, parameters)."""
    x = x.clone().requires_grad_(True)
    torch.manual_seed(1)  # the VAE's reparameterisation draw
    x_hat, z, stats, acts = model(x)
    outs = {"x_hat": x_hat, "z": z, **{f"act{i}": a for i, a in enumerate(acts)}}
    if stats is not None:
        outs["stats"] = stats
    gen = torch.Generator().manual_seed(2)  # a fixed random weighting of every output
    loss = sum(
        (o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs.values()
    )
    if stats is not None:
        loss = loss + kl_divergence(stats[0], stats[1])
    loss.backward()
    grads = {f"grad:{n}": p.grad for n, p in model.named_parameters()}
    return {**{k: v.detach() for k, v in outs.items()}, **grads, "grad:input": x.grad}


def test_which_layers_are_gemms_at_the_books_sizes() -> None:
    # 28 -> 14, 7, 3, 1: the last conv and the first transposed conv cover their whole map
    assert conv_sizes(28) == [14, 7, 3, 1] and conv_sizes(32) == [16, 8, 4, 2]
    ae = ConvAutoencoder(1, 28, width=2, latent_dim=3)
    assert isinstance(ae.enc_blocks[3][0], WholeInputConv2d)
    assert isinstance(ae.dec_blocks[0][0], WholeOutputConvTranspose2d)
    assert sum(isinstance(m, WHOLE) for m in ae.modules()) == 2
    assert ae.uses_matmul and not ae.set_matmul(False).uses_matmul
    # 32 -> 16, 8, 4, 2: a 2x2 output sees different windows, so every layer stays a conv
    ae = ConvAutoencoder(3, 32, width=2, latent_dim=3)
    assert not any(isinstance(m, WHOLE) for m in ae.modules()) and not ae.uses_matmul


@pytest.mark.parametrize(("channels", "size"), [*BOOK_SIZES, (1, 16), (1, 24)])
@pytest.mark.parametrize("variational", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_outputs_and_gradients_match_the_convolutions_float64(
    channels, size, variational, train
) -> None:
    new, old = _pair(channels, size, variational=variational, dtype=torch.float64)
    new.train(train), old.train(train)
    x = torch.rand(5, channels, size, size, dtype=torch.float64) * 2 - 1
    got, want = _outputs_and_grads(new, x), _outputs_and_grads(old, x)
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert value is not None, name
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6, msg=name)
    # the taps that only meet padding get exactly the conv's zero gradient
    for grad in (got["grad:enc_blocks.3.0.weight"], got["grad:dec_blocks.0.0.weight"]):
        if size == 28:
            assert grad[:, :, 0].abs().max() == 0 and grad[:, :, :, 0].abs().max() == 0


@pytest.mark.parametrize("variational", [False, True])
def test_paper_width_matches_the_convolutions_float64(variational) -> None:
    new, old = _pair(1, 28, width=64, variational=variational, dtype=torch.float64)
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64) * 2 - 1
    got, want = _outputs_and_grads(new.train(), x), _outputs_and_grads(old.train(), x)
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6, msg=name)


def test_float32_at_paper_width_is_as_accurate_as_the_convolutions() -> None:
    """float32 at width 64: both forms' errors against float64 are the same size.

    A 1e-6 absolute bound does not fit float32 (gradients are sums of about 10^4 products of
    size about 1, so rounding alone moves them by ~1e-5); what the GEMM form must not do is
    lose accuracy, so its error against the exact (float64) values may be at most twice the
    convolutional form's, plus float32's resolution at the value's scale.
    """
    new, old = _pair(1, 28, width=64)
    exact = copy.deepcopy(old).double()
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    got, conv, ref = (
        _outputs_and_grads(new, x),
        _outputs_and_grads(old, x),
        _outputs_and_grads(exact, x.double()),
    )
    for name, value in ref.items():
        err_new = float((got[name].double() - value).abs().max())
        err_conv = float((conv[name].double() - value).abs().max())
        scale = float(value.abs().max())
        assert err_new <= 2 * err_conv + 1e-6 * scale, (name, err_new, err_conv, scale)


@pytest.mark.parametrize(("channels", "size"), BOOK_SIZES)
def test_state_dict_keys_and_shapes_are_the_old_modules(channels, size) -> None:
    torch.manual_seed(0)
    old = OldConvAutoencoder(channels, size, width=4, latent_dim=6)
    torch.manual_seed(0)
    new = ConvAutoencoder(channels, size, width=4, latent_dim=6)
    want, got = old.state_dict(), new.state_dict()
    assert list(got) == list(want)
    for key, value in want.items():  # same seed, same draws: a fresh network is bit-identical
        assert got[key].shape == value.shape and torch.equal(got[key], value), key


@pytest.mark.parametrize(("channels", "size"), BOOK_SIZES)
def test_an_old_state_dict_loads_and_gives_the_same_outputs(channels, size) -> None:
    torch.manual_seed(3)
    old = OldConvAutoencoder(channels, size, width=64, latent_dim=300)
    x = torch.rand(16, channels, size, size) * 2 - 1
    old(x)  # one training-mode pass so BatchNorm's running statistics are not the defaults
    for p in old.parameters():  # biases and BatchNorm affines away from their 0 / 1 defaults
        if p.dim() == 1:
            p.data.add_(0.1 * torch.randn_like(p))
    buffer = io.BytesIO()
    torch.save(old.state_dict(), buffer)  # as the cache stores a trained network
    buffer.seek(0)
    new = ConvAutoencoder(channels, size, width=64, latent_dim=300)
    new.load_state_dict(torch.load(buffer, weights_only=True))
    old.eval(), new.eval()
    with torch.no_grad():
        torch.testing.assert_close(new(x)[0], old(x), rtol=0, atol=1e-6)


def test_layers_fall_back_to_the_convolution() -> None:
    torch.manual_seed(0)
    conv = WholeInputConv2d(3, 5, 4, 2, 1, input_size=3)
    x = torch.randn(2, 3, 6, 6)  # another input size: the plain conv
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, 2, 1))
    deconv = WholeOutputConvTranspose2d(5, 3, 4, 2, 1, output_padding=1, output_size=3)
    z = torch.randn(2, 5, 2, 2)
    want = F.conv_transpose2d(z, deconv.weight, deconv.bias, 2, 1, output_padding=1)
    torch.testing.assert_close(deconv(z), want)


def test_layers_refuse_shapes_their_kernel_does_not_cover() -> None:
    with pytest.raises(ValueError, match="does not cover a 4x4 input"):
        WholeInputConv2d(3, 5, 4, 2, 1, input_size=4)  # 4x4 -> 2x2: two windows
    with pytest.raises(ValueError, match="does not cover a 4x4 output"):
        WholeOutputConvTranspose2d(5, 3, 4, 2, 1, output_size=4)
    with pytest.raises(ValueError, match="ungrouped"):
        WholeInputConv2d(4, 4, 4, 2, 1, groups=2, input_size=3)


def test_the_environment_switches_the_default_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMBNB_AE_MATMUL", raising=False)
    assert default_matmul() and ConvAutoencoder(width=2, latent_dim=3).enc_blocks[3][0].as_matmul
    monkeypatch.setenv("IMBNB_AE_MATMUL", "0")  # the convolutions, as before the GEMM form
    ae = ConvAutoencoder(width=2, latent_dim=3)
    assert not ae.matmul and not ae.enc_blocks[3][0].as_matmul
    assert not ae.dec_blocks[0][0].as_matmul
    assert ConvAutoencoder(width=2, latent_dim=3, matmul=True).matmul  # an explicit choice wins

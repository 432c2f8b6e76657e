"""The DeepSMOTE autoencoder: shapes, loss terms against hand-computed values, gradient flow."""

from __future__ import annotations

import math

import pytest
import torch

from imbnb.autoencoders import (
    ConvAutoencoder,
    conv_sizes,
    kl_divergence,
    permutation_penalty,
    reconstruction_loss,
    sparsity_penalty,
    to_signed,
    to_unit,
)


@pytest.mark.parametrize(
    ("channels", "size", "sizes"), [(1, 28, [14, 7, 3, 1]), (3, 32, [16, 8, 4, 2])]
)
@pytest.mark.parametrize("variational", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_shapes_both_inputs_and_batch_one(channels, size, sizes, variational, batch) -> None:
    assert conv_sizes(size) == sizes
    torch.manual_seed(0)
    ae = ConvAutoencoder(channels, size, width=4, latent_dim=7, variational=variational).eval()
    x = torch.rand(batch, channels, size, size) * 2 - 1
    z = ae.encode(x)
    assert z.shape == (batch, 7)
    out = ae.decode(z)
    assert out.shape == (batch, channels, size, size)
    assert out.min() >= -1 and out.max() <= 1  # tanh
    x_hat, code, stats, acts = ae(x)
    assert x_hat.shape == x.shape and code.shape == (batch, 7)
    assert (stats is not None) == variational
    assert len(acts) == 5 and acts[-1].shape == (batch, 7)


def test_training_mode_batch_one_where_batchnorm_allows() -> None:
    # 32x32 keeps a 2x2 map in the last block, so BatchNorm trains on a single image
    ae = ConvAutoencoder(3, 32, width=4, latent_dim=5).train()
    x_hat, *_ = ae(torch.rand(1, 3, 32, 32))
    assert x_hat.shape == (1, 3, 32, 32)


def test_too_small_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="input_size=8 is too small"):
        ConvAutoencoder(1, 8)


def test_scaling_round_trip() -> None:
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.allclose(to_signed(x), torch.tensor([-1.0, -0.5, 1.0]))
    assert torch.allclose(to_unit(to_signed(x)), x)


def test_reconstruction_loss_by_hand() -> None:
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    assert reconstruction_loss(a, b).item() == pytest.approx((4 + 9) / 4)


def test_kl_by_hand() -> None:
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # sample 1: 0.5*(1) + 0.5*(2 - 1 - log 2); sample 2: 0 -> mean over the batch
    expected = (0.5 + 0.5 * (2 - 1 - math.log(2.0))) / 2
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected)


def test_sparsity_penalty_by_hand() -> None:
    a1 = torch.tensor([[1.0, -3.0], [0.0, 2.0]])  # per-sample means 2 and 1 -> 1.5
    a2 = torch.tensor([[[-4.0]], [[2.0]]])  # 4 and 2 -> 3
    assert sparsity_penalty([a1, a2]).item() == pytest.approx(4.5)
    with pytest.raises(ValueError, match="activations"):
        sparsity_penalty([])


def _grads(ae: ConvAutoencoder, loss: torch.Tensor) -> tuple[float, float]:
    ae.zero_grad()
    loss.backward()
    enc = [p.grad for n, p in ae.named_parameters() if n.startswith(("enc_", "fc_mu"))]
    dec = [p.grad for n, p in ae.named_parameters() if n.startswith(("dec_", "fc_dec"))]
    norm = lambda gs: sum(0.0 if g is None else float(g.abs().sum()) for g in gs)  # noqa: E731
    return norm(enc), norm(dec)


def test_official_penalty_trains_only_the_decoder_paired_trains_both() -> None:
    torch.manual_seed(0)
    ae = ConvAutoencoder(1, 28, width=4, latent_dim=6)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    perm = torch.tensor([2, 0, 4, 1, 3])
    enc, dec = _grads(ae, permutation_penalty(ae, x, perm, mode="official"))
    assert enc == 0.0 and dec > 0.0
    enc, dec = _grads(ae, permutation_penalty(ae, x, perm, mode="paired"))
    assert enc > 0.0 and dec > 0.0


def test_official_penalty_compares_each_code_with_its_own_image() -> None:
    torch.manual_seed(0)
    ae = ConvAutoencoder(1, 28, width=4, latent_dim=6)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    x[:2] = x[:2].clamp(max=-0.5)  # two dark and two bright images
    x[2:] = x[2:].clamp(min=0.5)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    for _ in range(60):  # fit the four images so decoding depends on the code
        opt.zero_grad()
        reconstruction_loss(ae(x)[0], x).backward()
        opt.step()
    ae.eval()
    perm = torch.tensor([3, 2, 1, 0])
    with torch.no_grad():
        own = reconstruction_loss(ae.decode(ae.encode(x)), x)
        official = permutation_penalty(ae, x, perm, mode="official")
        paired = permutation_penalty(ae, x, perm, mode="paired")
        by_hand = ((ae.decode(ae.encode(x))[perm] - x) ** 2).mean()
    assert official.item() == pytest.approx(own.item(), rel=1e-5)
    assert paired.item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert paired.item() > 2 * official.item()  # pairing different images costs more


def test_penalty_bad_mode_and_perm() -> None:
    ae = ConvAutoencoder(1, 28, width=2, latent_dim=3)
    x = torch.zeros(3, 1, 28, 28)
    with pytest.raises(ValueError, match="mode must be"):
        permutation_penalty(ae, x, torch.arange(3), mode="swap")
    with pytest.raises(ValueError, match="perm has 2 entries"):
        permutation_penalty(ae, x, torch.arange(2))

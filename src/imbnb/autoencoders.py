"""Convolutional autoencoders for generative oversampling (book chapters 6 and 7).

DeepSMOTE (Dablain, Krawczyk & Chawla 2022; Mandal 2024, §3.2, Algorithm 2) trains an
encoder/decoder, oversamples the minority classes in its latent space and decodes the new
latent vectors to images. This module holds the networks and their loss terms:

* :class:`ConvAutoencoder` -- four 4x4 stride-2 conv blocks (BatchNorm + LeakyReLU 0.2, the
  first without BatchNorm) to a linear latent of 300 units, and a mirrored decoder of
  transposed convs (BatchNorm + ReLU) ending in tanh; inputs are scaled to [-1, 1]. The
  spatial sizes are computed, not hard-coded, so 28x28x1 and 32x32x3 both work, and nothing
  relies on ``squeeze`` (batch size 1 keeps its batch axis).
* ``variational=True`` gives the VAE / beta-VAE encoder (mean and log-variance heads).
* loss terms: reconstruction MSE, DeepSMOTE's permutation penalty (the authors' form and a
  truly paired form), the sparse L1 penalty, the VAE's KL term, denoising input noise.

The training loop lives in :mod:`imbnb.methods.deepsmote`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvAutoencoder",
    "conv_sizes",
    "kl_divergence",
    "permutation_penalty",
    "reconstruction_loss",
    "sparsity_penalty",
    "to_signed",
    "to_unit",
]


def conv_sizes(input_size: int, n_blocks: int = 4) -> list[int]:
    """Spatial sizes after each 4x4 / stride-2 / padding-1 conv: 28 -> [14, 7, 3, 1]."""
    sizes, s = [], int(input_size)
    for _ in range(n_blocks):
        s = (s + 2 - 4) // 2 + 1
        if s < 1:
            raise ValueError(f"input_size={input_size} is too small for {n_blocks} stride-2 convs")
        sizes.append(s)
    return sizes


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] to the network's [-1, 1] range (tanh output)."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map the decoder's [-1, 1] output back to images in [0, 1]."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


class ConvAutoencoder(nn.Module):
    """DeepSMOTE's conv encoder/decoder (optionally variational), sized from the input.

    ``width`` is the first conv's channels (64 in the paper); blocks double it. ``encode``
    returns the latent code (the mean for a VAE); ``forward`` returns the reconstruction, the
    code actually decoded (a reparameterised draw for a VAE in training), and the hidden
    activations the sparse penalty uses.
    """

    def __init__(
        self,
        in_channels: int = 1,
        input_size: int = 28,
        *,
        width: int = 64,
        latent_dim: int = 300,
        variational: bool = False,
    ) -> None:
        super().__init__()
        if width < 1 or latent_dim < 1:
            raise ValueError(f"width and latent_dim must be >= 1, got {width}, {latent_dim}")
        self.in_channels, self.input_size = int(in_channels), int(input_size)
        self.latent_dim, self.variational = int(latent_dim), bool(variational)
        self.sizes = [self.input_size, *conv_sizes(self.input_size)]
        chans = [self.in_channels, width, 2 * width, 4 * width, 8 * width]
        self.enc_blocks = nn.ModuleList()
        for i in range(4):
            layers: list[nn.Module] = [nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1, bias=i == 0)]
            if i > 0:  # the authors' first block has no BatchNorm
                layers.append(nn.BatchNorm2d(chans[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
            self.enc_blocks.append(nn.Sequential(*layers))
        self.flat_dim = chans[4] * self.sizes[4] ** 2
        self.fc_mu = nn.Linear(self.flat_dim, latent_dim)
        self.fc_logvar = nn.Linear(self.flat_dim, latent_dim) if variational else None
        self.fc_dec = nn.Linear(latent_dim, self.flat_dim)
        self.dec_blocks = nn.ModuleList()
        for i in range(4, 0, -1):  # mirror: sizes[i] -> sizes[i-1], chans[i] -> chans[i-1]
            out_pad = self.sizes[i - 1] - 2 * self.sizes[i]  # 1 where the encoder floored
            conv = nn.ConvTranspose2d(chans[i], chans[i - 1], 4, 2, 1, output_padding=out_pad)
            last = i == 1
            layers = [conv] if last else [conv, nn.BatchNorm2d(chans[i - 1]), nn.ReLU()]
            self.dec_blocks.append(nn.Sequential(*layers))
        self._top = chans[4]

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, list]:
        """Mean, log-variance (VAE) and the hidden activations of the encoder."""
        acts = []
        h = x
        for block in self.enc_blocks:
            h = block(h)
            acts.append(h)
        flat = h.flatten(1)
        mu = self.fc_mu(flat)
        logvar = self.fc_logvar(flat) if self.fc_logvar is not None else None
        return mu, logvar, acts

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent code of images in [-1, 1] (a VAE's mean vector, as the thesis oversamples)."""
        return self._encode(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from latent codes."""
        h = F.relu(self.fc_dec(z)).view(-1, self._top, self.sizes[4], self.sizes[4])
        for block in self.dec_blocks:
            h = block(h)
        return torch.tanh(h)

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        """Reconstruction, decoded code, (mu, logvar) packed for the KL term, hidden activations."""
        mu, logvar, acts = self._encode(x)
        z = mu
        if logvar is not None and self.training:  # reparameterisation trick
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        stats = None if logvar is None else torch.stack([mu, logvar])
        return self.decode(z), z, stats, [*acts, z]


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every pixel (Mandal 2024 eq. 3.1; Algorithm 2's R_L)."""
    return F.mse_loss(x_hat, x)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over latent units, averaged over the batch (eq. 3.5/3.10)."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()


def sparsity_penalty(activations: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean absolute activation (Mandal 2024 §3.5, L_sparse).

    ``(1/m_l) sum_j |a_j^l|`` per sample and layer, averaged over the batch, summed over l.
    """
    if not activations:
        raise ValueError("activations must hold at least one layer's activations")
    return sum(a.abs().flatten(1).mean(dim=1).mean() for a in activations)


def permutation_penalty(
    model: ConvAutoencoder,
    x_class: torch.Tensor,
    perm: torch.Tensor,
    *,
    mode: str = "official",
) -> torch.Tensor:
    """DeepSMOTE's penalty on one class's images ``x_class`` (Algorithm 2 l.12-16).

    ``"official"`` follows the authors' code: the class's codes are computed without a
    gradient, re-ordered by ``perm``, decoded and compared with the images re-ordered the same
    way -- so each decoded code meets its own image, and only the decoder learns (an extra
    reconstruction term). ``"paired"`` keeps the encoder in the graph and compares the decoded
    re-ordered codes with the images in their original order, so code ``perm[i]`` is pulled
    towards image ``i`` of the same class: a penalty that really pairs different images.
    """
    if mode not in ("official", "paired"):
        raise ValueError(f"mode must be 'official' or 'paired', got {mode!r}")
    if len(perm) != len(x_class):
        raise ValueError(f"perm has {len(perm)} entries for {len(x_class)} images")
    if mode == "official":
        with torch.no_grad():
            z = model.encode(x_class)
        return F.mse_loss(model.decode(z[perm]), x_class[perm])
    z = model.encode(x_class)
    return F.mse_loss(model.decode(z[perm]), x_class)

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
* the layers whose kernel covers their whole input (28x28: the 4x4 conv from 3x3 to 1x1 and
  the transposed conv back) run as the matrix products they are (:class:`WholeInputConv2d`,
  :class:`WholeOutputConvTranspose2d`): same parameters and mathematics, but oneDNN's conv
  fell back to im2col there and their weight gradients took half of a step on AVX2. Float
  sums differ, so trained weights differ as they do between thread counts;
  ``IMBNB_AE_MATMUL=0`` keeps the convolutions (bit-identical to the earlier code).
* loss terms: reconstruction MSE, DeepSMOTE's permutation penalty (the authors' form and a
  truly paired form), the sparse L1 penalty, the VAE's KL term, denoising input noise.

The estimator that trains it is :class:`imbnb.estimators.autoencoder.DeepSMOTE`; it trains
through the one loop, :func:`imbnb.loop.train_epochs`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvAutoencoder",
    "WholeInputConv2d",
    "WholeOutputConvTranspose2d",
    "conv_sizes",
    "default_matmul",
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


def default_matmul() -> bool:
    """The GEMM form unless ``IMBNB_AE_MATMUL=0``: the convolutional form then reproduces,
    bit for bit, the weights trained before the GEMM form (for before/after comparisons)."""
    return os.environ.get("IMBNB_AE_MATMUL", "1").strip() != "0"


def _plain_square(layer: nn.Conv2d | nn.ConvTranspose2d) -> tuple[int, int]:
    """Kernel size and padding of a square, ungrouped, undilated conv (else a ValueError)."""
    k, p, st = layer.kernel_size, layer.padding, layer.stride
    if isinstance(p, str) or layer.groups != 1 or layer.dilation != (1, 1):
        raise ValueError("only numeric padding, ungrouped and undilated kernels")
    if k[0] != k[1] or p[0] != p[1] or st[0] != st[1]:
        raise ValueError("only square kernels with equal padding and stride on both axes")
    return k[0], p[0]


class WholeInputConv2d(nn.Conv2d):
    """A Conv2d whose one output pixel's kernel window covers its whole ``input_size`` input.

    Such a conv is a Linear map of the flattened input with the weight's covered taps (the
    rest only ever meet padding), so ``forward`` computes it as one GEMM; the parameters
    (names, shapes) are nn.Conv2d's. ``as_matmul=False`` (or another input size) uses the conv.
    """

    def __init__(self, *args: Any, input_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        (k, p), s = _plain_square(self), int(input_size)
        if not (0 <= s + 2 * p - k < self.stride[0] and s + p <= k):  # one window, all inside
            raise ValueError(f"a {k}x{k} kernel does not cover a {s}x{s} input in one window")
        self.input_size, self.as_matmul = s, True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.flatten(1) @ W[:, :, p:p+s, p:p+s].flatten(1).T + b`` as N x O x 1 x 1."""
        s, p = self.input_size, self.padding[0]
        if not self.as_matmul or tuple(x.shape[-2:]) != (s, s):
            return super().forward(x)
        w = self.weight[:, :, p : p + s, p : p + s].reshape(self.out_channels, -1)
        return F.linear(x.flatten(1), w, self.bias).view(x.shape[0], self.out_channels, 1, 1)


class WholeOutputConvTranspose2d(nn.ConvTranspose2d):
    """A ConvTranspose2d from a 1x1 input whose kernel covers its whole ``output_size`` output.

    Output pixel (i, j) is the input vector times kernel tap (p+i, p+j), so the layer is a
    Linear map (the transpose of :class:`WholeInputConv2d`'s) and ``forward`` is one GEMM.
    """

    def __init__(self, *args: Any, output_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        (k, p), o = _plain_square(self), int(output_size)
        if k - 2 * p + self.output_padding[0] != o or o + p > k:  # 1 -> o, every tap inside
            raise ValueError(f"a {k}x{k} kernel does not cover a {o}x{o} output from 1x1")
        self.output_size, self.as_matmul = o, True

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """``x.flatten(1) @ W[:, :, p:p+o, p:p+o].flatten(1) + b`` as N x O x o x o."""
        o, p = self.output_size, self.padding[0]
        if not self.as_matmul or output_size is not None or tuple(x.shape[-2:]) != (1, 1):
            return super().forward(x, output_size)
        w = self.weight[:, :, p : p + o, p : p + o].reshape(self.in_channels, -1)
        b = None if self.bias is None else self.bias.repeat_interleave(o * o)
        return F.linear(x.flatten(1), w.t(), b).view(x.shape[0], self.out_channels, o, o)


def _enc_conv(c_in: int, c_out: int, size_in: int, size_out: int, bias: bool) -> nn.Conv2d:
    """The encoder's 4x4 / stride-2 / padding-1 conv; a GEMM where it maps to one pixel."""
    if size_out == 1:
        return WholeInputConv2d(c_in, c_out, 4, 2, 1, bias=bias, input_size=size_in)
    return nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias)


def _dec_conv(c_in: int, c_out: int, size_in: int, size_out: int) -> nn.ConvTranspose2d:
    """The decoder's transposed conv from ``size_in`` to ``size_out``; a GEMM from one pixel."""
    out_pad = size_out - 2 * size_in  # 1 where the encoder floored
    if size_in == 1:
        return WholeOutputConvTranspose2d(
            c_in, c_out, 4, 2, 1, output_padding=out_pad, output_size=size_out
        )
    return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding=out_pad)


class ConvAutoencoder(nn.Module):
    """DeepSMOTE's conv encoder/decoder (optionally variational), sized from the input.

    ``width`` is the first conv's channels (64 in the paper); blocks double it. ``encode``
    returns the latent code (the mean for a VAE); ``forward`` returns the reconstruction, the
    code actually decoded (a reparameterised draw for a VAE in training), and the hidden
    activations the sparse penalty uses. ``matmul=False`` runs the layers that cover their whole
    input or output as convolutions (the same parameters and mathematics, other float sums);
    ``None`` follows :func:`default_matmul`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        input_size: int = 28,
        *,
        width: int = 64,
        latent_dim: int = 300,
        variational: bool = False,
        matmul: bool | None = None,
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
            conv = _enc_conv(chans[i], chans[i + 1], self.sizes[i], self.sizes[i + 1], i == 0)
            layers: list[nn.Module] = [conv]
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
            conv = _dec_conv(chans[i], chans[i - 1], self.sizes[i], self.sizes[i - 1])
            last = i == 1
            layers = [conv] if last else [conv, nn.BatchNorm2d(chans[i - 1]), nn.ReLU()]
            self.dec_blocks.append(nn.Sequential(*layers))
        self._top = chans[4]
        self.set_matmul(default_matmul() if matmul is None else matmul)

    def set_matmul(self, on: bool) -> ConvAutoencoder:
        """Run the whole-input/-output layers as GEMMs (``True``) or as convolutions."""
        self.matmul = bool(on)
        for m in self.modules():
            if isinstance(m, (WholeInputConv2d, WholeOutputConvTranspose2d)):
                m.as_matmul = self.matmul
        return self

    @property
    def uses_matmul(self) -> bool:
        """Whether some layer runs as a GEMM (the GEMM form at a size with whole-map layers):
        only then can its trained weights differ from the convolutional form's."""
        whole = (WholeInputConv2d, WholeOutputConvTranspose2d)
        return any(isinstance(m, whole) and m.as_matmul for m in self.modules())

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

"""GAMO2pix (Mullick et al., ICCV 2019, §5): from GAMO's generated feature vectors to images.

A variational autoencoder whose encoder is a trained GAMO's F, frozen, followed by trainable
mean and log-variance heads; the decoder maps a latent code to a 28x28 image. One is trained
per class on its real images; :meth:`GAMO2pix.decode_features` then turns GAMO's generated
feature vectors (through the mean head) into images. Training runs through
:func:`imbnb.loop.train_epochs`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as Fn
from sklearn.base import BaseEstimator
from torch import nn

from imbnb.estimators._gamo_modules import as_float, as_tensor
from imbnb.estimators.gamo import GAMO
from imbnb.loop import LoopSpec, train_epochs
from imbnb.train import adam

__all__ = ["GAMO2pix", "PixVAE"]


class PixVAE(nn.Module):
    """VAE: GAMO's frozen F plus mean/log-variance heads as encoder; decodes 28x28 images."""

    def __init__(self, F: nn.Module, feature_dim: int, latent: int = 32, out_channels: int = 1):
        super().__init__()
        self.F = F
        for p in self.F.parameters():
            p.requires_grad_(False)
        self.mu = nn.Linear(feature_dim, latent)
        self.logvar = nn.Linear(feature_dim, latent)
        self.dec = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),  # 28x28
            nn.Sigmoid(),
        )

    def encode_features(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | h) for feature vectors h = F(x)."""
        return self.mu(h), self.logvar(h).clamp(-10, 10)

    def forward(
        self, x: torch.Tensor, gen: torch.Generator | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Reconstruction, mean and log-variance of images ``x`` (F frozen, in eval mode)."""
        self.F.eval()
        with torch.no_grad():
            h = self.F(x)
        mu, logvar = self.encode_features(h)
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        return self.dec(mu + eps * (0.5 * logvar).exp()), mu, logvar

    @torch.no_grad()
    def decode_features(
        self, h: np.ndarray | torch.Tensor, sample: bool = False, seed: int = 0
    ) -> np.ndarray:
        """Images (N, C, 28, 28) in [0, 1] for feature vectors, e.g. GAMO-generated ones."""
        self.eval()
        h = torch.as_tensor(np.asarray(h), dtype=torch.float32).to(self.mu.weight.device)
        mu, logvar = self.encode_features(h)
        if sample:
            gen = torch.Generator().manual_seed(seed)
            mu = mu + torch.randn(mu.shape, generator=gen).to(mu.device) * (0.5 * logvar).exp()
        return self.dec(mu).cpu().numpy()


class GAMO2pix(BaseEstimator):
    """One class's GAMO2pix on its real images (uint8 or [0, 1] floats, N x C x 28 x 28).

    ``gamo`` is a fitted :class:`~imbnb.estimators.gamo.GAMO` of the conv variant; its F stays
    frozen and the VAE lives on its device. Loss: binary cross-entropy of the reconstruction
    summed over pixels plus the KL divergence of q(z | F(x)) from N(0, I), averaged over the
    batch (a standard VAE); ``steps`` batches of ``batch_size`` drawn with replacement.
    Learned: ``vae_`` (:class:`PixVAE`), ``history_`` (loss means per pass over the images).
    """

    def __init__(
        self,
        gamo: GAMO,
        *,
        latent: int = 32,
        steps: int = 500,
        batch_size: int = 32,
        lr: float = 1e-3,
        random_state: int = 0,
        progress: bool = False,
    ):
        self.gamo = gamo
        self.latent = latent
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> GAMO2pix:
        """Train the heads and decoder on images ``X`` of one class (``y`` is ignored)."""
        X = self._setup(X)
        seed, vae = int(self.random_state), self.vae_
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        Xt = as_tensor(X).to(self.gamo.net_.device)
        params = [p for n, p in vae.named_parameters() if not n.startswith("F.")]
        opt = adam(params, self.lr)

        def step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
            xb = as_float(Xt[idx])
            rec, mu, logvar = vae(xb, gen)
            bce = Fn.binary_cross_entropy(rec, xb, reduction="sum") / len(xb)
            kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum() / len(xb)
            loss = bce + kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": loss.detach(), "bce": bce.detach(), "kl": kl.detach()}

        per_epoch = max(1, math.ceil(len(X) / self.batch_size))
        epochs = math.ceil(self.steps / per_epoch)

        def batches(epoch: int) -> Iterator[torch.Tensor]:
            for _ in range(min(per_epoch, self.steps - epoch * per_epoch)):
                yield torch.from_numpy(rng.integers(0, len(Xt), self.batch_size))

        spec = LoopSpec(epochs=epochs, modules=(vae,), desc="GAMO2pix", progress=self.progress)
        self.history_ = train_epochs(step, batches, spec)
        return self

    def set_state(self, X: Any, state: Mapping[str, torch.Tensor]) -> GAMO2pix:
        """Install trained heads and decoder (``vae_``'s state without ``F.``) instead of
        training, for images shaped like ``X``."""
        self._setup(X)
        f_sd = {f"F.{k}": v for k, v in self.gamo.net_.F.state_dict().items()}
        self.vae_.load_state_dict({**f_sd, **state})
        self.vae_.eval()
        self.history_ = {}
        return self

    def _setup(self, X: Any) -> np.ndarray:
        """Validate, seed and build ``vae_`` on GAMO's device."""
        gamo = self.gamo
        if not hasattr(gamo, "net_"):
            raise ValueError("gamo must be a fitted GAMO")
        if gamo.settings_.variant != "conv":
            raise ValueError(
                "gamo: GAMO2pix inverts the conv variant's F; the flattened one is an image"
            )
        for name in ("latent", "steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not isinstance(self.random_state, int | np.integer):
            raise ValueError(f"random_state must be an int, got {self.random_state!r}")
        X = np.asarray(X)
        if X.ndim != 4 or X.shape[2:] != (28, 28) or X.shape[1] != gamo.net_.input_shape[0]:
            raise ValueError(f"X must be images (N, C, 28, 28) as GAMO's inputs: {X.shape}")
        if len(X) == 0:
            raise ValueError("X holds no images")
        torch.manual_seed(int(self.random_state))
        F = gamo.net_.F
        self.vae_ = PixVAE(F, F.out_dim, self.latent, X.shape[1]).to(gamo.net_.device)
        return X

    def decode_features(
        self, h: np.ndarray | torch.Tensor, sample: bool = False, seed: int = 0
    ) -> np.ndarray:
        """Images (N, C, 28, 28) in [0, 1] for feature vectors, e.g. GAMO-generated ones."""
        return self.vae_.decode_features(h, sample, seed)

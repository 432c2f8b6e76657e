"""Networks whose penultimate layer is the deep feature space (book chapter on feature extractors).

Every model here exposes ``embed(x) -> z`` (the embedding that the oversamplers of chapter 3 work
in) and ``classify(z) -> logits`` (the linear classifier *g* on top), with
``forward(x) == classify(embed(x))`` and an ``embedding_dim`` attribute.

Architectures (``make_model(arch, ...)``):

* ``"C6-C16-F400-F120"`` and ``"C20-C50-F500-F120"``: the CNNs of DOS (Ando & Huang 2017,
  Table 4), which the ADOS thesis (Karmakar 2019, §6.1) says it took; its Fig. 6.2 draws the
  first without the 400-unit layer. ``Ck`` is a block conv 5x5 (k filters)
  -> BatchNorm -> ReLU -> max-pool 2x2/2; ``Fk`` is a block dense (k units) -> BatchNorm -> ReLU.
  The last ``F`` block is the embedding layer. Any spec of that grammar is accepted (for example
  ``"C6-C16-F120"``, the thesis's Fig. 6.2 network with exactly its 52,186 parameters).
* ``"resnet-small"``: a three-stage pre-pooling ResNet (basic blocks, widths w, 2w, 4w) whose
  global-average-pooled output is the embedding.

Padding of the 5x5 convolutions (``padding="auto"``): the first conv is padded by 2 when the
input is smaller than 32 pixels (LeNet's convention: a 28x28 digit is treated as if padded to
32x32, which reproduces the thesis's parameter counts for both its networks), and any later conv
is padded by 2 when a valid conv would leave fewer than 2 pixels to pool. So 1x28x28 flattens to
16x5x5 = 400, 3x32x32 to 50x5x5 = 1,250, and sklearn's 1x8x8 digits to 16x2x2 = 64.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from imbnb.losses import CosineClassifier

__all__ = ["ARCHS", "HEADS", "EmbeddingCNN", "MLPHead", "ResNetSmall", "make_model", "parse_arch"]

#: Named architectures; other ``C..-F..`` specs are accepted too (see :func:`parse_arch`).
ARCHS: tuple[str, ...] = ("C6-C16-F400-F120", "C20-C50-F500-F120", "resnet-small")

#: Classifier heads for :func:`make_model`: ``nn.Linear`` or a cosine head (for LDAM).
HEADS: tuple[str, ...] = ("linear", "cosine")

_SPEC = re.compile(r"^(C\d+-)+(F\d+-)*F\d+$")
_KERNEL = 5


def parse_arch(arch: str) -> tuple[list[int], list[int]]:
    """Split a ``"C6-C16-F400-F120"`` spec into conv widths and dense widths (DOS Table 4 names)."""
    if not isinstance(arch, str) or not _SPEC.match(arch):
        raise ValueError(
            f"unknown arch {arch!r}; allowed: {', '.join(map(repr, ARCHS))} "
            "or any 'C<k>-...-F<k>' spec (conv blocks then at least one dense block)"
        )
    parts = arch.split("-")
    convs = [int(p[1:]) for p in parts if p[0] == "C"]
    dense = [int(p[1:]) for p in parts if p[0] == "F"]
    if min(convs + dense) < 1:
        raise ValueError(f"arch {arch!r}: every layer needs at least one unit")
    return convs, dense


def _auto_padding(n_blocks: int, input_size: int) -> list[int]:
    """Padding per conv block so that every 5x5 conv + 2x2 pool fits (see module docstring)."""
    pads: list[int] = []
    size = input_size
    for i in range(n_blocks):
        if i == 0:
            pad = 2 if size < 32 else 0
        else:
            pad = 2 if size - _KERNEL + 1 < 2 else 0
        size = (size + 2 * pad - _KERNEL + 1) // 2
        if size < 1:
            raise ValueError(
                f"input_size={input_size} is too small for {n_blocks} conv+pool blocks"
            )
        pads.append(pad)
    return pads


class EmbeddingCNN(nn.Module):
    """Conv blocks -> dense blocks (last = embedding z) -> linear g; DOS/ADOS feature extractor."""

    def __init__(
        self,
        conv_channels: Sequence[int],
        dense_units: Sequence[int],
        *,
        in_channels: int,
        n_classes: int,
        input_size: int,
        padding: str | int | Sequence[int] = "auto",
    ) -> None:
        super().__init__()
        if not dense_units:
            raise ValueError("EmbeddingCNN needs at least one dense (embedding) layer")
        if padding == "auto":
            pads = _auto_padding(len(conv_channels), input_size)
        elif isinstance(padding, int):
            pads = [padding] * len(conv_channels)
        else:
            pads = [int(p) for p in padding]
            if len(pads) != len(conv_channels):
                raise ValueError(f"padding has {len(pads)} entries for {len(conv_channels)} convs")
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out, pad in zip(conv_channels, pads, strict=True):
            # ADOS thesis 6.1: conv 5x5 -> BatchNorm -> ReLU -> max-pool (stride 2)
            layers += [
                nn.Conv2d(c_in, c_out, _KERNEL, padding=pad),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
            ]
            c_in = c_out
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        with torch.no_grad():  # flatten size from a dummy forward, so any input size works
            flat = self.features(torch.zeros(1, in_channels, input_size, input_size)).shape[1]
        dense: list[nn.Module] = []
        d_in = flat
        for units in dense_units:
            # dense -> BatchNorm -> ReLU; the BN here is what makes the thesis's counts add up
            dense += [nn.Linear(d_in, units), nn.BatchNorm1d(units), nn.ReLU(inplace=True)]
            d_in = units
        self.dense = nn.Sequential(*dense)
        self.classifier = nn.Linear(d_in, n_classes)
        self.flatten_dim = int(flat)
        self.embedding_dim = int(d_in)
        self.n_classes = int(n_classes)
        self.input_shape = (int(in_channels), int(input_size), int(input_size))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, C, H, W) to the deep feature space z (N, embedding_dim)."""
        return self.dense(self.features(x))

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the linear classifier g to embeddings, giving logits (N, n_classes)."""
        return self.classifier(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for images: classify(embed(x))."""
        return self.classify(self.embed(x))


class _BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update relu(F(x) + shortcut(x))."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNetSmall(EmbeddingCNN):
    """A CIFAR-style ResNet (3 stages, widths w/2w/4w); the pooled 4w vector is the embedding."""

    def __init__(
        self,
        *,
        in_channels: int,
        n_classes: int,
        input_size: int,
        width: int = 16,
        blocks_per_stage: int = 1,
    ) -> None:
        nn.Module.__init__(self)  # the conv/dense layout of EmbeddingCNN does not apply
        stem = [
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        blocks: list[nn.Module] = []
        c_in = width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(_BasicBlock(c_in, c_out, stride))
                c_in = c_out
        self.features = nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dense = nn.Identity()
        self.classifier = nn.Linear(c_in, n_classes)
        self.flatten_dim = int(c_in)
        self.embedding_dim = int(c_in)
        self.n_classes = int(n_classes)
        self.input_shape = (int(in_channels), int(input_size), int(input_size))


class MLPHead(nn.Module):
    """Dense ReLU layers then a linear classifier g, for 2-D features such as embeddings."""

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        d_in = in_dim
        for units in hidden:
            layers += [nn.Linear(d_in, units), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d_in = units
        self.hidden = nn.Sequential(*layers)
        self.classifier = nn.Linear(d_in, n_classes)
        self.embedding_dim = int(d_in)
        self.n_classes = int(n_classes)
        self.in_dim = int(in_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden representation (the input itself when ``hidden=()``)."""
        return self.hidden(x.flatten(1))

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Logits from the last hidden representation."""
        return self.classifier(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for feature vectors (N, in_dim)."""
        return self.classify(self.embed(x))


def make_model(
    arch: str,
    *,
    in_channels: int,
    n_classes: int,
    input_size: int,
    head: str = "linear",
    **kw: object,
) -> EmbeddingCNN:
    """Build a feature-extracting network by name, sized for ``in_channels x input_size^2``.

    Extra keywords go to the constructor: ``padding`` for the C/F specs, ``width`` and
    ``blocks_per_stage`` for ``"resnet-small"``. ``head="cosine"`` replaces the linear classifier
    g by :class:`imbnb.losses.CosineClassifier` (normalised features x normalised weights, no
    bias), the head LDAM is trained with (Cao et al. 2019); ``"linear"`` keeps ``nn.Linear``.
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; allowed: {list(HEADS)}")
    if arch == "resnet-small":
        model: EmbeddingCNN = ResNetSmall(
            in_channels=in_channels, n_classes=n_classes, input_size=input_size, **kw
        )  # type: ignore[arg-type]
    else:
        convs, dense = parse_arch(arch)
        model = EmbeddingCNN(
            convs, dense, in_channels=in_channels, n_classes=n_classes, input_size=input_size, **kw
        )  # type: ignore[arg-type]
    if head == "cosine":
        model.classifier = CosineClassifier(model.embedding_dim, n_classes)
    return model

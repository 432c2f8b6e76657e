"""Benchmark of the generative methods' autoencoder training (README "The paper table").

Prints, in one run, on real Fashion-MNIST images (the Debian package):

1. seconds per training batch of DeepSMOTE's width-64 autoencoder, through imbnb's own loop
   (reconstruction + the permutation penalty + each variant's term), one thread, per variant;
2. the same with two threads, and the ratio (how much a second core buys one run);
3. bfloat16 autocast on one reconstruction step against float32 (ratio; imbnb trains in
   float32, so this only says what mixed precision would buy on this CPU);
4. what that means for the paper grid: hours per autoencoder (50 epochs) on the thesis's
   protocol at rho = 100 and on the count list, and for the 75 autoencoders of the grid;
5. seconds to write one resume checkpoint (weights, Adam state, RNG states) against one
   epoch at rho = 100 (the share of the training a checkpoint after every epoch would cost);
6. the CPU (model and instruction set), and the share of a reconstruction step each conv
   layer's backward pass takes (torch.profiler): kernels follow the instruction set, and on
   an AVX2 machine two small layers' weight gradients took more than half of the step.

Run: ``python benchmarks/bench_autoencoder.py [--batches N] [--width W]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from imbnb.autoencoders import ConvAutoencoder, reconstruction_loss
from imbnb.cache import Cache
from imbnb.data import load_dataset
from imbnb.methods.deepsmote import AEConfig, _Checkpoints, count_split, train_autoencoder
from imbnb.versions import cpu_description

VARIANTS = ("deepsmote", "denoising", "sparse", "vae")
EPOCHS, BATCH = 50, 100


def per_batch(
    images: np.ndarray, labels: np.ndarray, variant: str, width: int, threads: int
) -> float:
    """Seconds per batch of one epoch of imbnb's training loop on ``images`` (no cache)."""
    torch.set_num_threads(threads)
    config = AEConfig(variant=variant, width=width, epochs=1, batch_size=BATCH)
    warm = slice(0, 2 * BATCH)  # first calls per thread count build oneDNN kernels: untimed
    train_autoencoder(
        images[warm], labels[warm], config, use_cache=False, device="cpu", progress=False
    )
    start = time.perf_counter()
    train_autoencoder(images, labels, config, use_cache=False, device="cpu", progress=False)
    return (time.perf_counter() - start) / int(np.ceil(len(images) / BATCH))


def autocast_ratio(width: int, steps: int = 6) -> tuple[float, float]:
    """Seconds per reconstruction step in float32 and under bfloat16 autocast, one thread."""
    torch.set_num_threads(1)
    out = []
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = ConvAutoencoder(width=width)
        opt = torch.optim.Adam(model.parameters(), 3e-4)
        x = torch.rand(BATCH, 1, 28, 28) * 2 - 1
        times = []
        for _ in range(steps + 2):  # two warm-up steps
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                x_hat = model(x)[0]
            loss = reconstruction_loss(x_hat.float(), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        out.append(float(np.median(times[2:])))
    return out[0], out[1]


def checkpoint_seconds(width: int, repeats: int = 3) -> float:
    """Median seconds of one checkpoint write of a width-``width`` autoencoder with Adam state."""
    torch.manual_seed(0)
    model = ConvAutoencoder(width=width)
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    reconstruction_loss(model(torch.zeros(2, 1, 28, 28))[0], torch.zeros(2, 1, 28, 28)).backward()
    opt.step()  # Adam's moment buffers exist only after a step
    gen = torch.Generator().manual_seed(0)
    times = []
    with tempfile.TemporaryDirectory() as root:
        ckpt = _Checkpoints(Cache(root), {"bench": width}, every_seconds=0)
        for epoch in range(repeats):
            t0 = time.perf_counter()
            ckpt.save(epoch + 1, model, opt, gen, {"loss": [0.0]})
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def backward_shares(width: int, steps: int = 3) -> list[tuple[str, float]]:
    """Per conv layer (input shape), its backward pass's share of a reconstruction step."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ConvAutoencoder(width=width)
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    x = torch.rand(BATCH, 1, 28, 28) * 2 - 1

    def step() -> None:
        opt.zero_grad()
        reconstruction_loss(model(x)[0], x).backward()
        opt.step()

    step()  # builds oneDNN's kernels: untimed
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    shares = [
        (
            f"{e.input_shapes[1]} -> {e.input_shapes[0]}",  # the layer's input -> output
            e.self_cpu_time_total / total,
        )
        for e in events
        if e.key == "aten::convolution_backward"
    ]
    return sorted(shares, key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10, help="batches timed per variant")
    parser.add_argument("--width", type=int, default=64, help="autoencoder width (paper: 64)")
    args = parser.parse_args()
    train = load_dataset("fashion_mnist", "train")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(train), size=args.batches * BATCH, replace=False)
    x, y = train.images[idx], train.labels[idx]

    print(
        f"autoencoder width {args.width}, batch {BATCH}, {args.batches} batches per timing, "
        f"CPU {cpu_description()}"
    )
    one = {v: per_batch(x, y, v, args.width, 1) for v in VARIANTS}
    for v, s in one.items():
        print(f"  {v:10s} 1 thread: {s:.3f} s per batch")
    two = per_batch(x, y, "deepsmote", args.width, 2)
    print(
        f"  deepsmote  2 threads: {two:.3f} s per batch; "
        f"1 / 2 threads = {one['deepsmote'] / two:.2f}x"
    )
    f32, b16 = autocast_ratio(args.width)
    print(
        f"  reconstruction step: float32 {f32:.3f} s, bfloat16 autocast {b16:.3f} s, "
        f"ratio {f32 / b16:.2f}x"
    )

    mean = float(np.mean(list(one.values())))

    def hours(n_images: int) -> float:
        return mean * np.ceil(n_images / BATCH) * EPOCHS / 3600

    thesis = {rho: hours(6 * 6000 + 4 * 6000 // rho) for rho in (10, 20, 40, 100)}  # 4 cut
    counts = hours(len(count_split(train.labels).indices))
    for rho, h in thesis.items():
        print(f"  {EPOCHS} epochs, thesis protocol rho={rho}: {h:.2f} h per autoencoder, one core")
    print(f"  {EPOCHS} epochs, count list: {counts:.2f} h per autoencoder, one core")
    total = 15 * sum(thesis.values()) + 15 * counts  # 5 autoencoders x 3 seeds per setting
    print(f"  paper grid (75 autoencoders): {total:.0f} core-hours")
    write = checkpoint_seconds(args.width)
    epoch = thesis[100] * 3600 / EPOCHS
    print(
        f"  checkpoint write {write:.2f} s, one epoch at rho=100 {epoch:.0f} s: "
        f"{100 * write / epoch:.2f}% per epoch"
    )
    print("  backward pass of each conv layer (its input -> output shape), share of a step:")
    for shapes, share in backward_shares(args.width)[:4]:
        print(f"    {shapes}: {100 * share:.0f}%")


if __name__ == "__main__":
    main()

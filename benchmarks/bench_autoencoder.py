"""Benchmark of the generative methods' autoencoder training (book: "Status").

Prints, in one run, on real Fashion-MNIST images (the Debian package):

1. the training step of DeepSMOTE's width-64 autoencoder (a batch of 100: reconstruction plus
   the permutation penalty on 100 more images, a class's share; Adam; Algorithm 2 l.10-19) with the
   whole-map layers as GEMMs (``new``, what imbnb trains) and as convolutions (``old``),
   repeats interleaved, medians: the new/old step-time ratio, the step time and the projected
   hours per thesis-protocol autoencoder (rho = 100: 36,240 images, 50 epochs, batch 100);
2. the GEMM floor: the step's FLOPs (torch's flop counter) at the fp32 matmul rate measured
   in the same run, interleaved with the steps, and the ratio step / floor;
3. seconds per training batch through imbnb's own loop, one thread, per variant, then two
   threads, and the ratio (how much a second core buys one run);
4. bfloat16 autocast on one reconstruction step against float32 (ratio; imbnb trains in
   float32, so this only says what mixed precision would buy on this CPU);
5. hours per autoencoder (50 epochs) on the thesis's protocol and on the count list, and for
   the 75 autoencoders of the paper grid, from the one-thread times of (3);
6. seconds to write one resume checkpoint (weights, Adam state, RNG states) against one
   epoch at rho = 100 (the share of the training a checkpoint after every epoch would cost);
7. the CPU (model and instruction set), and per form the share of a reconstruction step each
   conv layer's backward pass takes (torch.profiler): kernels follow the instruction set, and
   on an AVX2 machine the two whole-map layers' weight gradients took more than half of the
   conv form's step (oneDNN falls back to im2col there), which the GEMM form removes.

Run: ``python benchmarks/bench_autoencoder.py [--repeats N] [--batches N] [--threads T]
[--record PATH]`` (about 1-2 minutes with the defaults on 2 cores; more repeats steady the
medians on a busy machine). ``--record benchmarks/records/bench_autoencoder.jsonl`` appends the
printed figures, with the time, commit and machine, as one JSON line (the book's status page
shows the newest per machine type).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from imbnb.autoencoders import ConvAutoencoder, permutation_penalty, reconstruction_loss
from imbnb.cache import Cache
from imbnb.data import load_dataset
from imbnb.loop import Checkpoint
from imbnb.methods.deepsmote import AEConfig, count_split, train_autoencoder
from imbnb.versions import cpu_description

VARIANTS = ("deepsmote", "denoising", "sparse", "vae")
EPOCHS, BATCH = 50, 100
THESIS_IMAGES = 6 * 6000 + 4 * 6000 // 100  # thesis protocol at rho = 100: 4 classes cut
GEMM_N = 2048  # square fp32 matmul that measures the machine's GEMM rate

#: a benchmark's printed figures: name -> (value, unit)
Figures = dict[str, tuple[float, str]]


def make_step(images: np.ndarray, width: int, matmul: bool) -> Callable[[int], None]:
    """One Algorithm 2 step (reconstruction + official penalty, Adam) of a fresh network."""
    torch.manual_seed(0)
    model = ConvAutoencoder(width=width, matmul=matmul).train()
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    x = torch.from_numpy(images).float().div(255.0).mul(2.0).sub(1.0)  # [-1, 1], N x 1 x 28 x 28
    gen = torch.Generator().manual_seed(0)

    def step(i: int) -> None:
        at = (i * BATCH) % (len(x) - 2 * BATCH + 1)
        xb, x_class = x[at : at + BATCH], x[at + BATCH : at + 2 * BATCH]
        perm = torch.randperm(BATCH, generator=gen)
        loss = reconstruction_loss(model(xb)[0], xb) + permutation_penalty(model, x_class, perm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def seconds(fn: Callable[..., object], *args: object) -> float:
    """Wall-clock seconds of one call ``fn(*args)``."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def step_flops(images: np.ndarray, width: int, matmul: bool) -> int:
    """FLOPs of one step (forward and backward, convolutions and matrix products)."""
    step = make_step(images, width, matmul)
    with FlopCounterMode(display=False) as counter:
        step(0)
    return int(counter.get_total_flops())


def interleaved(images: np.ndarray, width: int, repeats: int) -> dict[str, float]:
    """Median seconds per step of each form and of one GEMM, measured in alternation."""
    new, old = make_step(images, width, True), make_step(images, width, False)
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    for i in range(2):  # the first calls build oneDNN's kernels: untimed
        new(i), old(i), torch.mm(a, b)
    times: dict[str, list[float]] = {"new": [], "old": [], "gemm": []}
    for i in range(repeats):
        first, second = (("new", new), ("old", old))[:: 1 if i % 2 else -1]  # alternate order
        for name, step in (first, second):
            times[name].append(seconds(step, i + 2))
        times["gemm"].append(seconds(torch.mm, a, b))
    return {k: float(np.median(v)) for k, v in times.items()}


def headline(images: np.ndarray, width: int, repeats: int, threads: int) -> Figures:
    """Print the new/old ratio, the step time, hours per autoencoder and the GEMM floor."""
    torch.set_num_threads(threads)
    med = interleaved(images, width, repeats)
    flops_new, flops_old = step_flops(images, width, True), step_flops(images, width, False)
    rate = 2 * GEMM_N**3 / med["gemm"]
    floor = flops_new / rate
    steps = int(np.ceil(THESIS_IMAGES / BATCH)) * EPOCHS

    def hours(s: float) -> float:
        return s * steps / 3600

    print(f"  training step, {threads} threads, medians of {repeats} interleaved repeats:")
    print(
        f"    new (whole-map layers as GEMMs) {med['new']:.3f} s, old (convolutions) "
        f"{med['old']:.3f} s: new / old = {med['new'] / med['old']:.2f}"
    )
    print(
        f"    thesis protocol ({THESIS_IMAGES:,} images, {EPOCHS} epochs, batch {BATCH}, "
        f"{steps:,} steps): {hours(med['new']):.2f} h per autoencoder (old: "
        f"{hours(med['old']):.2f} h)"
    )
    print(
        f"    GEMM floor: {flops_new / 1e9:.1f} GFLOP per step (the conv form counts "
        f"{flops_old / 1e9:.1f}, with the taps that meet padding) at the fp32 GEMM rate "
        f"measured now ({GEMM_N}^3: {rate / 1e9:.0f} GFLOP/s) = {floor:.3f} s, "
        f"{hours(floor):.2f} h per autoencoder; step / floor = {med['new'] / floor:.2f} "
        f"(old: {med['old'] / floor:.2f})"
    )
    return {
        f"step, new form, {threads} threads": (med["new"], "s"),
        f"step, old form, {threads} threads": (med["old"], "s"),
        "new / old": (med["new"] / med["old"], "x"),
        "thesis-protocol autoencoder, new form": (hours(med["new"]), "h"),
        "thesis-protocol autoencoder, old form": (hours(med["old"]), "h"),
        "GEMM rate": (rate / 1e9, "GFLOP/s"),
        "GFLOP per step": (flops_new / 1e9, "GFLOP"),
        "GEMM floor per step": (floor, "s"),
        "step / floor, new form": (med["new"] / floor, "x"),
        "step / floor, old form": (med["old"] / floor, "x"),
    }


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
        ckpt = Checkpoint(Cache(root), {"bench": width}, [model], [opt], gen, every_seconds=0)
        for epoch in range(repeats):
            times.append(seconds(ckpt.offer, epoch + 1, {"loss": [0.0]}))
    return float(np.median(times))


def backward_shares(width: int, matmul: bool, steps: int = 3) -> list[tuple[str, float]]:
    """Per conv layer (input shape), its backward pass's share of a reconstruction step; and
    the share of all matrix products (forward and backward) under ``"GEMMs"``."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ConvAutoencoder(width=width, matmul=matmul)
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
    gemm = sum(e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm"))
    return [*sorted(shares, key=lambda item: -item[1]), ("GEMMs", gemm / total)]


def grid_hours(one: dict[str, float], train_labels: np.ndarray) -> tuple[float, Figures]:
    """Print hours per autoencoder (thesis protocol, count list) and for the paper grid;
    return the seconds of one epoch at rho = 100 and those figures."""
    mean = float(np.mean(list(one.values())))

    def hours(n_images: int) -> float:
        return mean * np.ceil(n_images / BATCH) * EPOCHS / 3600

    thesis = {rho: hours(6 * 6000 + 4 * 6000 // rho) for rho in (10, 20, 40, 100)}  # 4 cut
    counts = hours(len(count_split(train_labels).indices))
    for rho, h in thesis.items():
        print(f"  {EPOCHS} epochs, thesis protocol rho={rho}: {h:.2f} h per autoencoder, one core")
    print(f"  {EPOCHS} epochs, count list: {counts:.2f} h per autoencoder, one core")
    total = 15 * sum(thesis.values()) + 15 * counts  # 5 autoencoders x 3 seeds per setting
    print(f"  paper grid (75 autoencoders): {total:.0f} core-hours")
    figures: Figures = {
        f"autoencoder, thesis protocol rho={rho}, one core": (h, "h") for rho, h in thesis.items()
    }
    figures["autoencoder, count list, one core"] = (counts, "h")
    figures["paper grid, 75 autoencoders"] = (total, "core-hours")
    return thesis[100] * 3600 / EPOCHS, figures


def loop_figures(x: np.ndarray, y: np.ndarray, width: int, train_labels: np.ndarray) -> Figures:
    """Print and return (3)-(6): per-batch times, threads, autocast, hours, checkpoint."""
    one = {v: per_batch(x, y, v, width, 1) for v in VARIANTS}
    print(f"  imbnb's training loop, {len(x) // BATCH} batches per timing:")
    for v, s in one.items():
        print(f"  {v:10s} 1 thread: {s:.3f} s per batch")
    two = per_batch(x, y, "deepsmote", width, 2)
    print(
        f"  deepsmote  2 threads: {two:.3f} s per batch; "
        f"1 / 2 threads = {one['deepsmote'] / two:.2f}x"
    )
    f32, b16 = autocast_ratio(width)
    print(
        f"  reconstruction step: float32 {f32:.3f} s, bfloat16 autocast {b16:.3f} s, "
        f"ratio {f32 / b16:.2f}x"
    )
    epoch, hours = grid_hours(one, train_labels)
    write = checkpoint_seconds(width)
    print(
        f"  checkpoint write {write:.2f} s, one epoch at rho=100 {epoch:.0f} s: "
        f"{100 * write / epoch:.2f}% per epoch"
    )
    return {
        **{f"batch, {v}, 1 thread": (s, "s") for v, s in one.items()},
        "batch, deepsmote, 2 threads": (two, "s"),
        "1 / 2 threads": (one["deepsmote"] / two, "x"),
        "reconstruction step float32 / bfloat16 autocast": (f32 / b16, "x"),
        **hours,
        "checkpoint write": (write, "s"),
        "checkpoint share of an epoch at rho=100": (100 * write / epoch, "%"),
    }


def shares_figures(width: int) -> Figures:
    """Print and return (7): each form's backward shares of the whole-map layers and GEMMs."""
    figures: Figures = {}
    for matmul, name in ((False, "old (convolutions)"), (True, "new (GEMMs)")):
        print(f"  {name}: backward pass of each conv layer (input -> output), share of a step:")
        *convs, (_, gemm) = backward_shares(width, matmul)
        for shapes, share in convs[:4]:
            print(f"    {shapes}: {100 * share:.0f}%")
            figures[f"{name.split()[0]} form, backward {shapes}"] = (100 * share, "% of a step")
        print(
            f"    all matrix products (fc layers, and the new form's whole-map layers): "
            f"{100 * gemm:.0f}%"
        )
        figures[f"{name.split()[0]} form, all matrix products"] = (100 * gemm, "% of a step")
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, run the benchmark, and append its figures to ``--record`` if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved new/old steps")
    parser.add_argument("--threads", type=int, default=2, help="threads of the new/old timing")
    parser.add_argument("--batches", type=int, default=5, help="batches timed per variant")
    parser.add_argument("--width", type=int, default=64, help="autoencoder width (paper: 64)")
    parser.add_argument("--record", metavar="PATH", help="append the figures as a JSON line")
    args = parser.parse_args(argv)
    train = load_dataset("fashion_mnist", "train")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(train), size=max(args.batches, 2) * BATCH, replace=False)
    x, y = train.images[idx], train.labels[idx]

    print(f"autoencoder width {args.width}, batch {BATCH}, CPU {cpu_description()}")
    figures = headline(x, args.width, args.repeats, args.threads)
    figures.update(loop_figures(x, y, args.width, train.labels))
    figures.update(shares_figures(args.width))
    if args.record:
        from imbnb.book.status import record_benchmark

        arguments = {k: v for k, v in vars(args).items() if k != "record"}
        record_benchmark(args.record, "bench_autoencoder", arguments, figures)
        print(f"  figures appended to {args.record}")


if __name__ == "__main__":
    main()

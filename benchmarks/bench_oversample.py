"""Benchmark of imbnb's feature-space oversamplers (book: "Status"; chapter "ADOS").

Prints, in one run, on Fashion-MNIST-embedding-shaped data (60,000 x 120; random Gaussian
class clusters unless ``--real`` gives an ``.npz`` with arrays ``X`` and ``y``):

1. ADOS at imbalance rho = 100 (6 classes of 6,000, 4 of 60) against a lower bound: the dense
   distance work sum_t t*d that Algorithm 5 with §4.3's incremental matrix must do, at this
   machine's matrix-vector throughput measured in the same run (goal: ratio <= 3);
2. imbalanced-learn's SMOTE on the same data for reference;
3. exact kNN: faiss (raw ``IndexFlatL2`` and ``FaissNearestNeighbors``) vs scikit-learn brute
   force, time and ratio (goal: faiss >= 3x faster);
4. WeightedCalibration (chapter 7) on latent-shaped data (a count list, d = 300), as shipped
   (BLAS on one thread inside ``fit_resample``) against the same code on the caller's BLAS
   threads: time, ratio, and how far the rows differ;
5. peak memory (tracemalloc peak per step, and the process's max RSS).

Run: ``python benchmarks/bench_oversample.py [--quick] [--real PATH.npz] [--threads N]
[--record PATH]``; ``--record benchmarks/records/bench_oversample.jsonl`` appends the printed
figures, with the time, commit and machine, as one JSON line (the book's status page shows the
newest per machine type).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

#: a benchmark's printed figures: name -> (value, unit)
Figures = dict[str, tuple[float, str]]


def _timed(fn, *args, trace: bool = True, **kwargs):
    """Return ``(result, seconds, tracemalloc peak MiB or nan)`` of one call.

    tracemalloc slows down code that allocates many small arrays (ADOS's loop), so callers
    time an untraced run and measure memory in a second, traced one.
    """
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
    if trace:
        tracemalloc.stop()
    return out, dt, peak


def make_data(n_per_class: int, n_classes: int, dim: int, seed: int):
    """Random stand-in for Fashion-MNIST embeddings: Gaussian class clusters, float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
    X = np.vstack([c + rng.normal(size=(n_per_class, dim)) for c in centres]).astype(np.float32)
    return X, np.repeat(np.arange(n_classes), n_per_class)


def imbalance(X, y, rho: int, n_minority: int, seed: int):
    """Keep every class whole except the last ``n_minority``, cut to ``n_max / rho``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    n_min = max(2, int(counts.max()) // rho)
    keep = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        if c in classes[-n_minority:]:
            idx = np.sort(rng.choice(idx, n_min, replace=False))
        keep.append(idx)
    keep = np.concatenate(keep)
    return X[keep], y[keep]


def bench_knn(X, n_queries: int, k: int) -> Figures:
    """faiss vs sklearn brute-force exact kNN (fit on all of X, query its first rows)."""
    import faiss
    from sklearn.neighbors import NearestNeighbors

    def raw_faiss():
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(np.ascontiguousarray(X, dtype=np.float32))
        return index.search(np.ascontiguousarray(Q, dtype=np.float32), k)

    Q = X[:n_queries]
    sk = NearestNeighbors(n_neighbors=k, algorithm="brute")
    (_, ind_sk), t_sk, m_sk = _timed(lambda: sk.fit(X).kneighbors(Q))
    (_, ind_raw), t_raw, m_raw = _timed(raw_faiss)
    try:
        from imbnb.oversample.neighbors import FaissNearestNeighbors

        fnn = FaissNearestNeighbors(n_neighbors=k)
        (_, ind_fa), t_fa, m_fa = _timed(lambda: fnn.fit(X).kneighbors(Q))
    except ImportError:  # neighbors.py absent: report raw faiss only
        ind_fa, t_fa, m_fa = ind_raw, t_raw, m_raw
    agree = float(np.mean(np.sort(ind_sk, axis=1) == np.sort(ind_fa, axis=1)))
    print(f"[kNN] index {X.shape[0]}x{X.shape[1]}, {len(Q)} queries, k={k}")
    print(f"  sklearn brute      {t_sk:8.2f} s   peak {m_sk:7.1f} MiB")
    print(f"  faiss IndexFlatL2  {t_raw:8.2f} s   peak {m_raw:7.1f} MiB   ({t_sk / t_raw:.2f} x)")
    print(f"  FaissNearestNbrs   {t_fa:8.2f} s   peak {m_fa:7.1f} MiB")
    print(f"  speed-up           {t_sk / t_fa:8.2f} x   (goal >= 3x); same neighbours {agree:.4f}")
    return {
        "kNN sklearn brute": (t_sk, "s"),
        "kNN faiss IndexFlatL2": (t_raw, "s"),
        "kNN FaissNearestNeighbors": (t_fa, "s"),
        "kNN faiss speed-up over sklearn": (t_sk / t_fa, "x"),
    }


def gemv_throughput(dim: int, sizes, repeats: int) -> float:
    """Measured float64 matrix-vector throughput in multiply-adds per second (best of runs)."""
    rng = np.random.default_rng(0)
    rates = []
    for t in sizes:
        A = rng.normal(size=(t, dim))
        x = rng.normal(size=dim)
        A @ x  # warm-up
        reps = max(repeats, int(2e8 // (t * dim)))
        t0 = time.perf_counter()
        for _ in range(reps):
            A @ x
        rates.append(reps * t * dim / (time.perf_counter() - t0))
    return float(np.median(rates))


def ados_work(counts: dict, targets: dict, dim: int) -> float:
    """Multiply-adds of ADOS's dense distance work: n_c^2 d + sum_t t d per minority class."""
    work = 0.0
    for c, n_gen in targets.items():
        n = counts[c]
        work += n * n * dim  # Algorithm 3 on the originals
        work += dim * (n * n_gen + n_gen * (n_gen - 1) / 2)  # §4.3: one row per new point
    return work


def bench_ados(X, y) -> Figures:
    """ADOS wall time vs the dense-distance lower bound; SMOTE for reference."""
    from imblearn.over_sampling import SMOTE

    from imbnb.oversample.ados import ADOS

    classes, counts = np.unique(y, return_counts=True)
    count = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    print(f"[ADOS] X {X.shape}, class sizes {sorted(count.values(), reverse=True)}")
    ados = ADOS(random_state=0)
    (X_res, _), t_ados, _ = _timed(ados.fit_resample, X, y, trace=False)
    _, _, m_ados = _timed(ADOS(random_state=0).fit_resample, X, y)  # memory only
    targets = {int(c): int(n) for c, n in ados.sampling_strategy_.items() if n > 0}
    work = ados_work(count, targets, X.shape[1])
    n_max = max(count.values())
    rate = gemv_throughput(X.shape[1], [n_max // 4, n_max // 2, n_max], repeats=50)
    bound = work / rate
    print(f"  generated          {int(ados.is_synthetic_.sum())} rows -> {X_res.shape}")
    print(f"  gemv throughput    {rate / 1e9:8.2f} G multiply-add/s (float64, measured now)")
    print(f"  lower bound        {bound:8.2f} s   ({work / 1e9:.2f} G multiply-adds)")
    print(f"  ADOS               {t_ados:8.2f} s   peak {m_ados:7.1f} MiB")
    print(f"  ADOS / bound       {t_ados / bound:8.2f} x   (goal <= 3x)")
    smote = SMOTE(random_state=0)
    _, t_sm, _ = _timed(smote.fit_resample, X, y, trace=False)
    _, _, m_sm = _timed(SMOTE(random_state=0).fit_resample, X, y)
    print(f"  imblearn SMOTE     {t_sm:8.2f} s   peak {m_sm:7.1f} MiB   (reference)")
    return {
        "ADOS rows generated": (int(ados.is_synthetic_.sum()), "rows"),
        "gemv throughput": (rate / 1e9, "G multiply-add/s"),
        "ADOS lower bound": (bound, "s"),
        "ADOS": (t_ados, "s"),
        "ADOS / lower bound": (t_ados / bound, "x"),
        "imblearn SMOTE": (t_sm, "s"),
    }


def bench_calibration(dim: int, counts: tuple[int, ...], seed: int) -> Figures:
    """WeightedCalibration with its one-thread BLAS pin against the caller's thread count."""
    import torch  # noqa: F401  (loaded in every chapter; it changes how BLAS threads behave)

    from imbnb.oversample import WeightedCalibration

    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(loc=i, size=(n, dim)) for i, n in enumerate(counts)])
    y = np.repeat(np.arange(len(counts)), counts)

    def run():
        return WeightedCalibration(random_state=0, k=3, max_components=10).fit_resample(X, y)[0]

    pinned, t_pin, _ = _timed(run, trace=False)
    shipped = WeightedCalibration._fit_resample
    WeightedCalibration._fit_resample = WeightedCalibration._resample  # the pin removed
    try:
        free, t_free, _ = _timed(run, trace=False)
    finally:
        WeightedCalibration._fit_resample = shipped
    print(f"[WeightedCalibration] X {X.shape}, class sizes {list(counts)}")
    print(f"  caller's threads   {t_free:8.2f} s")
    print(f"  BLAS on 1 thread   {t_pin:8.2f} s   ({t_free / t_pin:.2f} x, as shipped)")
    print(f"  rows differ by     {np.abs(pinned - free).max():8.1e}   (max abs)")
    return {
        "WeightedCalibration, caller's threads": (t_free, "s"),
        "WeightedCalibration, BLAS on 1 thread": (t_pin, "s"),
        "WeightedCalibration speed-up of the pin": (t_free / t_pin, "x"),
        "WeightedCalibration rows differ by": (float(np.abs(pinned - free).max()), "max abs"),
    }


def main(argv=None) -> None:
    """Parse arguments and run the benchmarks."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (about 20 s)")
    p.add_argument("--real", metavar="NPZ", help=".npz with X (n, d) and y (n,) embeddings")
    p.add_argument("--threads", type=int, default=None, help="BLAS/faiss threads (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", metavar="PATH", help="append the figures as a JSON line to PATH")
    args = p.parse_args(argv)

    if args.real:
        with np.load(args.real, allow_pickle=False) as z:
            X, y = z["X"].astype(np.float32), z["y"]
    else:
        n = 2000 if args.quick else 6000
        X, y = make_data(n, 10, 120, args.seed)
    n_queries = 2000 if args.quick else 10000
    print(
        f"imbnb oversampling benchmark ({'quick' if args.quick else 'full'}), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"threads {args.threads or 'default'}"
    )
    with threadpool_limits(args.threads):
        if args.threads:
            try:
                import faiss

                faiss.omp_set_num_threads(args.threads)
            except ImportError:
                pass
        # ADOS first: after a faiss search libgomp's idle threads spin and slow every later
        # BLAS call in the process several-fold on a 2-core machine (measured: 2.8 s -> 13 s
        # for ADOS), unless OMP_WAIT_POLICY=PASSIVE or OpenMP is limited to one thread.
        Xi, yi = imbalance(X, y, rho=100, n_minority=4, seed=args.seed)
        figures = bench_ados(Xi, yi)
        figures.update(bench_knn(X, n_queries=n_queries, k=6))
        counts = (2000, 1000, 500, 250, 150, 100, 60, 40, 30, 20)
        figures.update(
            bench_calibration(
                128 if args.quick else 300, counts[2:] if args.quick else counts, args.seed
            )
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[memory] process max RSS {rss:.0f} MiB")
    figures["process max RSS"] = (rss, "MiB")
    if args.record:
        from imbnb.book.status import record_benchmark

        arguments = {k: v for k, v in vars(args).items() if k != "record"}
        record_benchmark(args.record, "bench_oversample", arguments, figures)
        print(f"[record] appended to {args.record}")


if __name__ == "__main__":
    main()

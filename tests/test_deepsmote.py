"""DeepSMOTE and its variants end to end on small made-up data: counts, ranges, seeds, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imbnb.autoencoders import ConvAutoencoder, kl_divergence, reconstruction_loss, sparsity_penalty
from imbnb.cache import Cache
from imbnb.data import make_synthetic
from imbnb.estimators.autoencoder import _step_loss
from imbnb.imbalance import make_imbalanced
from imbnb.loop import Checkpoint
from imbnb.methods.deepsmote import (
    AE_CACHE_KIND,
    CHECKPOINT_KIND,
    METHODS,
    AEConfig,
    GenerativeGrid,
    GenerativeRun,
    count_protocol,
    impl_key,
    interpolate,
    method_ae_config,
    oversample_latent,
    run_generative,
    run_grid,
    train_autoencoder,
)

TINY = {"width": 4, "latent_dim": 8, "epochs": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    ds = make_synthetic(n_per_class=[60, 20, 8], n_classes=3, size=28, seed=0)
    return ds.images, ds.labels


@pytest.mark.parametrize("variant", ["deepsmote", "denoising", "sparse", "vae"])
def test_each_variant_trains_and_decodes_in_range(data, variant, tmp_path) -> None:
    x, y = data
    ae = train_autoencoder(
        x, y, AEConfig(variant=variant, **TINY), cache=Cache(tmp_path), progress=False
    )
    extra = {"denoising": None, "sparse": "sparse", "vae": "kl", "deepsmote": None}[variant]
    assert {"loss", "recon", "penalty"} <= set(ae.history)
    if extra:
        assert extra in ae.history
    z = ae.encode(x[:5])
    assert z.shape == (5, 8) and z.dtype == np.float32
    out = ae.decode(z)
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1


def test_seeded_training_is_identical_and_cached(data, tmp_path) -> None:
    x, y = data
    cfg = AEConfig(**TINY, seed=3)
    a = train_autoencoder(x, y, cfg, use_cache=False, progress=False)
    b = train_autoencoder(x, y, cfg, use_cache=False, progress=False)
    assert a.history == b.history
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    cache = Cache(tmp_path)
    first = train_autoencoder(x, y, cfg, cache=cache, progress=False)
    again = train_autoencoder(x, y, cfg, cache=cache, progress=False)
    assert not first.from_cache and again.from_cache
    np.testing.assert_array_equal(first.encode(x), again.encode(x))
    other = train_autoencoder(
        x, y, AEConfig(**{**TINY, "epochs": 2}, seed=3), cache=cache, progress=False
    )
    assert not other.from_cache  # a changed knob is a different key


def test_a_network_is_served_only_to_the_layer_form_that_trained_it(
    data, tmp_path, monkeypatch
) -> None:
    x, y = data  # 28x28: the last encoder conv and first decoder conv cover their whole map
    cfg, cache = AEConfig(**TINY, seed=3), Cache(tmp_path)
    monkeypatch.setenv("IMBNB_AE_MATMUL", "1")
    assert impl_key(cfg, (1, 28, 28)) == {"ae_impl": "matmul"}
    assert impl_key(cfg, (3, 32, 32)) == {}  # no whole-map layer at 32x32: one form only
    gemm = train_autoencoder(x, y, cfg, cache=cache, progress=False)
    monkeypatch.setenv("IMBNB_AE_MATMUL", "0")
    assert impl_key(cfg, (1, 28, 28)) == {}  # the convolutional form keeps the old keys
    conv = train_autoencoder(x, y, cfg, cache=cache, progress=False)
    assert not gemm.from_cache and not conv.from_cache
    assert train_autoencoder(x, y, cfg, cache=cache, progress=False).from_cache


@pytest.mark.parametrize(
    ("variant", "every", "resumed"),
    [("denoising", 0, 2), ("vae", 0, 2), ("sparse", 1e9, 0), ("deepsmote", None, 0)],
)
def test_killed_training_resumes_to_the_same_weights(
    data, tmp_path, monkeypatch, variant, every, resumed
) -> None:
    x, y = data
    cfg = AEConfig(variant=variant, **{**TINY, "epochs": 4}, seed=2)
    whole = train_autoencoder(x, y, cfg, use_cache=False, progress=False)
    cache, real_offer = Cache(tmp_path), Checkpoint.offer

    def offer_then_die(self, epoch, history):
        real_offer(self, epoch, history)
        if epoch == 2:  # killed right after epoch 2's checkpoint (when one was due)
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "offer", offer_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(x, y, cfg, cache=cache, progress=False, checkpoint_seconds=every)
    assert cache.entries(AE_CACHE_KIND) == []
    assert len(cache.entries(CHECKPOINT_KIND)) == (1 if resumed else 0)
    monkeypatch.undo()
    again = train_autoencoder(x, y, cfg, cache=cache, progress=False, checkpoint_seconds=every)
    assert again.resumed_from == resumed and not again.from_cache
    assert again.history == whole.history
    for name, w in whole.model.state_dict().items():
        assert torch.equal(w, again.model.state_dict()[name]), name
    assert cache.entries(CHECKPOINT_KIND) == []  # dropped once the network is cached
    assert again.train_seconds > 0
    assert train_autoencoder(x, y, cfg, cache=cache, progress=False).from_cache


def test_checkpoint_seconds_must_not_be_negative(data, tmp_path) -> None:
    x, y = data
    with pytest.raises(ValueError, match="checkpoint_seconds must be >= 0 or None"):
        train_autoencoder(x, y, AEConfig(**TINY), cache=Cache(tmp_path), checkpoint_seconds=-1)


@pytest.mark.parametrize("sampler", ["smote", "adasyn", "weighted_calibration"])
def test_latent_oversampling_returns_requested_counts(data, sampler, tmp_path) -> None:
    x, y = data
    ae = train_autoencoder(x, y, AEConfig(**TINY), cache=Cache(tmp_path), progress=False)
    res = oversample_latent(ae, x, y, sampler, seed=0)
    counts = np.bincount(res.labels)
    if sampler == "adasyn":  # ADASYN's counts are approximately balanced by design
        assert counts.min() >= 0.8 * counts.max()
    else:
        assert counts.tolist() == [60, 60, 60]
    assert res.images.shape == (len(res.labels), 1, 28, 28)
    assert res.images.min() >= 0 and res.images.max() <= 1
    n = len(y)
    np.testing.assert_array_equal(res.images[:n], x.astype(np.float32) / 255)  # originals first
    assert not res.is_synthetic[:n].any() and res.is_synthetic[n:].all()
    again = oversample_latent(ae, x, y, sampler, seed=0)
    np.testing.assert_array_equal(res.images, again.images)


def test_interpolation_strip_ends_at_the_reconstructions(data, tmp_path) -> None:
    x, y = data
    ae = train_autoencoder(x, y, AEConfig(**TINY), cache=Cache(tmp_path), progress=False)
    strip = interpolate(ae, x[0], x[1], steps=5)
    assert strip.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(strip[[0, -1]], ae.decode(ae.encode(x[:2])), atol=1e-6)


def test_bad_input_names_the_parameter(data) -> None:
    x, y = data
    with pytest.raises(ValueError, match="variant must be one of"):
        AEConfig(variant="gan")
    with pytest.raises(ValueError, match="penalty must be one of"):
        AEConfig(penalty="swap")
    with pytest.raises(ValueError, match="width must be >= 1"):
        AEConfig(width=0)
    with pytest.raises(ValueError, match="images must have shape"):
        train_autoencoder(x[0], y[:1], AEConfig(**TINY))
    with pytest.raises(
        ValueError, match="unknown method .DeepGAN. in family .generative.; allowed: MLP-pixels"
    ):
        method_ae_config("DeepGAN", {}, 0)
    with pytest.raises(ValueError, match="unknown autoencoder setting"):
        method_ae_config("DeepSMOTE", {"depth": 3}, 0)


def test_methods_registry_matches_the_thesis_tables() -> None:
    assert METHODS["DeepADASYN"].variant == "denoising"
    assert METHODS["DeepDenoising+WC"].sampler == "weighted_calibration"
    assert method_ae_config("beta-VAE-2", {}, 1).beta == 2.0
    assert method_ae_config("MLP-pixels", {}, 0) is None


def test_count_protocol_scales_the_list() -> None:
    train, test, split, name = count_protocol("mnist5k", count_scale=1.0, seed=0)
    counts = np.bincount(train.labels, minlength=10)
    assert name == "mnist5k" and counts[0] == 400 and counts[-1] == 4
    assert (np.diff(counts) <= 0).all()
    assert len(test) == 1000


def test_run_generative_row_is_cached_and_deterministic(data, tmp_path) -> None:
    ds = make_synthetic(n_per_class=[80, 30, 10], n_classes=3, size=28, seed=1)
    test = make_synthetic(n_per_class=20, n_classes=3, size=28, seed=2, split="test")
    split = make_imbalanced(ds.labels, "none")
    train = ds.subset(split.indices)
    kw = dict(seed=0, ae=TINY, classifier={"epochs": 2}, cache=Cache(tmp_path))
    row = run_generative("DeepSMOTE", train, test, **kw)
    assert row["n_synthetic"] == 2 * 80 - 30 - 10
    assert 0 <= row["recall_macro"] <= 1 and "f1_macro" in row and "acsa" in row
    assert run_generative("DeepSMOTE", train, test, **kw) == row
    base = run_generative("MLP-pixels", train, test, **kw)
    assert base["n_synthetic"] == 0 and "recon_mse_test" not in base


def test_variant_loss_terms_by_hand() -> None:
    import torch

    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    ae = ConvAutoencoder(1, 28, width=2, latent_dim=4).eval()  # eval: no BatchNorm updates
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    plain = _step_loss(ae, x, None, AEConfig(variant="deepsmote", penalty="none"), gen())
    assert set(plain) == {"recon"}
    assert plain["recon"].item() == pytest.approx(reconstruction_loss(ae(x)[0], x).item())
    # denoising: the noisy input's reconstruction against the clean image
    noisy = x + 0.5 * torch.randn(x.shape, generator=gen())
    den = _step_loss(
        ae, x, None, AEConfig(variant="denoising", noise_sigma=0.5, penalty="none"), gen()
    )
    assert den["recon"].item() == pytest.approx(reconstruction_loss(ae(noisy)[0], x).item())
    zero = _step_loss(
        ae, x, None, AEConfig(variant="denoising", noise_sigma=0.0, penalty="none"), gen()
    )
    assert zero["recon"].item() == pytest.approx(plain["recon"].item())
    # sparse: lambda times the mean absolute activations
    sp = _step_loss(
        ae, x, None, AEConfig(variant="sparse", sparsity_lambda=0.1, penalty="none"), gen()
    )
    assert sp["sparse"].item() == pytest.approx(0.1 * sparsity_penalty(ae(x)[3]).item())
    # VAE (eval: the code is the mean): beta * KL / pixels
    vae = ConvAutoencoder(1, 28, width=2, latent_dim=4, variational=True).eval()
    kl = _step_loss(vae, x, None, AEConfig(variant="vae", beta=2.0, penalty="none"), gen())
    stats = vae(x)[2]
    assert kl["kl"].item() == pytest.approx(2.0 * kl_divergence(stats[0], stats[1]).item() / 784)


def test_checkpoints_have_a_kind_of_their_own() -> None:
    # the former private loop wrote "autoencoder_checkpoint" in another format: never read it
    assert CHECKPOINT_KIND != "autoencoder_checkpoint"


def test_run_generative_takes_a_config_or_keywords(tmp_path) -> None:
    ds = make_synthetic(n_per_class=[40, 12, 6], n_classes=3, size=28, seed=1)
    test = make_synthetic(n_per_class=5, n_classes=3, size=28, seed=2, split="test")
    cache = Cache(tmp_path)
    run = GenerativeRun(seed=1, ae=TINY, classifier={"epochs": 1})
    row = run_generative("DeepSMOTE", ds, test, run, cache=cache)
    same = run_generative(
        "DeepSMOTE", ds, test, ae=TINY, classifier={"epochs": 1}, seed=1, cache=cache
    )
    assert same == row  # the same cache entry
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['seeds'\] for GenerativeRun"):
        run_generative("DeepSMOTE", ds, test, seeds=[0])
    with pytest.raises(ValueError, match="for ClassifierConfig"):
        run_generative("DeepSMOTE", ds, test, run, classifier={"depth": 3})
    with pytest.raises(ValueError, match="for GenerativeGrid"):
        run_grid(["fashion_mnist"], [0], ["MLP-pixels"], GenerativeGrid(), scale=2)

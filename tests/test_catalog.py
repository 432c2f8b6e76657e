"""The one registry: every method once, under one name, with its family, recipe and search."""

from __future__ import annotations

import pytest

from imbnb.experiments import FAMILIES, METHODS, family_of
from imbnb.experiments.tuning import BUDGET, search_space
from imbnb.methods import catalog
from imbnb.methods.deepsmote import METHODS as GENERATIVE
from imbnb.methods.feature_methods import METHODS as FEATURE_SPACE
from imbnb.methods.losses_baselines import LOSS_METHODS


def test_every_method_is_registered_once_under_the_name_its_rows_carry() -> None:
    assert set(METHODS) == set(catalog.REGISTRY)
    for name, method in catalog.REGISTRY.items():
        assert method.name == name and METHODS[name] == method.family == family_of(name)
        spec_name = getattr(method.spec, "name", name)  # recipes that carry a name agree
        assert spec_name == name
    # the names the committed tables use, and no second name for any of them
    assert {"CNN-CE", "CNN-CW", "MLP-pixels", "GAMO-noD", "GAMO-CN"} <= set(METHODS)
    assert not {"Baseline", "CN", "SMOTE+CN", "GAMO\\D"} & set(METHODS)
    assert [n for n in LOSS_METHODS][:2] == ["CNN-CE", "CNN-CW"]


def test_family_views_are_live_and_read_only() -> None:
    spec = FEATURE_SPACE["BL"]
    catalog.register(catalog.Method("X-view", "feature_space", "a test entry", spec))
    try:
        assert FEATURE_SPACE["X-view"] is spec and "X-view" in FAMILIES["feature_space"][0]
        assert METHODS["X-view"] == "feature_space" and "X-view" not in GENERATIVE
        with pytest.raises(TypeError):
            FEATURE_SPACE["Y"] = spec  # type: ignore[index]
    finally:
        catalog.unregister("X-view")
    assert "X-view" not in METHODS and "X-view" not in FEATURE_SPACE


def test_registration_refuses_a_taken_name_or_an_unknown_family() -> None:
    with pytest.raises(ValueError, match="method 'ADOS' exists already"):
        catalog.register(catalog.Method("ADOS", "feature_space", "again"))
    with pytest.raises(ValueError, match="method 'ADOS' exists already"):  # other family
        catalog.register(catalog.Method("ADOS", "losses", "again"), replace=True)
    with pytest.raises(ValueError, match=r"family must be one of \['feature_space'"):
        catalog.register(catalog.Method("Z", "pixels", "?"))
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        catalog.register(catalog.Method(" ", "losses", "?"))
    with pytest.raises(ValueError, match="unknown method 'nope'; allowed: BL, BL[+]CW"):
        catalog.get("nope")


def test_search_spaces_come_from_the_entries_within_one_budget() -> None:
    assert search_space("Focal") == [{"loss_params": {"gamma": g}} for g in (0.5, 1.0, 2.0, 3.0)]
    assert search_space("CNN-CE") == [{"lr": v} for v in (2e-3, 1e-3, 5e-4, 2.5e-4)]  # family's
    assert search_space("DOS") == [{"k": k, "rounds": r} for k in (3, 5) for r in (1, 3)]
    gamo = [{"loss": lo, "lr": lr} for lo in ("ls", "ce") for lr in (2e-4, 1e-3)]
    assert search_space("GAMO") == gamo == search_space("GAMO-noD")  # the family's
    pixels = [{"classifier": {"epochs": e, "lr": lr}} for e in (20, 40) for lr in (1e-3, 3e-4)]
    assert search_space("MLP-pixels") == pixels  # the one generative method with its own
    assert search_space("DeepSMOTE") == [{}]
    pipelines = search_space("ADOS")
    assert pipelines == search_space("BL") and len(pipelines) == BUDGET
    catalog.register(
        catalog.Method("X-big", "losses", "too many", LOSS_METHODS["CB"], ({},) * (BUDGET + 1))
    )
    try:
        with pytest.raises(ValueError, match="5 candidates exceed the budget 4"):
            search_space("X-big")
    finally:
        catalog.unregister("X-big")


def test_a_lookup_alone_sees_every_family() -> None:
    """Importing only the catalog is enough: the first lookup imports the families' modules."""
    import subprocess
    import sys

    code = "from imbnb.methods import catalog; print(len(catalog.names()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(METHODS)


def test_paper_names_map_published_labels_to_the_books_names() -> None:
    assert catalog.paper_names("losses") == {"ERM": "CNN-CE"}
    gamo = catalog.paper_names("gamo")
    assert gamo["GAMO\\D"] == "GAMO-noD" and gamo["CN"] == "GAMO-CN"
    dos = catalog.paper_names("dos")  # DOS's tables call its initial network "CNN"
    assert dos == {"CNN": "DOS-init", "CNN-LR": "DOS-init-LR", "CNN-kNN": "DOS-init-kNN"}
    assert not set(catalog.paper_names()) - {"ERM", "CN", "SMOTE+CN", "GAMO\\D", "GAMO", *dos}

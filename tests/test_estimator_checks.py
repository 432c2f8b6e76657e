"""imbalanced-learn's own estimator checks over every imbnb sampler."""

from __future__ import annotations

import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks

from imbnb.oversample import (
    ADASYN,
    ADOS,
    ROSRUS,
    SMOTE,
    BorderlineSMOTE,
    GaussianPerturbation,
    PseudoFeatures,
    RandomOverSampler,
    RandomUnderSampler,
    WeightedCalibration,
)

SAMPLERS = [
    RandomOverSampler(random_state=0),
    RandomUnderSampler(random_state=0),
    ROSRUS(ratio=2.0, random_state=0),
    SMOTE(random_state=0),
    BorderlineSMOTE(random_state=0),
    ADASYN(random_state=0),
    GaussianPerturbation(random_state=0),
    PseudoFeatures(random_state=0),
    ADOS(random_state=0),
    WeightedCalibration(random_state=0),
]

# {sampler class name: {check name: one-line reason}}; imblearn marks these xfail. Every
# sampler currently passes every check, so nothing is skipped.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def _parametrize_checks() -> pytest.MarkDecorator:
    """imblearn's parametrisation, with its cases as a list: pytest 10 refuses a generator."""
    mark = parametrize_with_checks(SAMPLERS, expected_failed_checks=_expected_failures)
    names, cases = mark.args
    return pytest.mark.parametrize(names, list(cases), **mark.kwargs)


@_parametrize_checks()
def test_imblearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_every_public_sampler_is_checked() -> None:
    import imbnb.oversample as ov

    public = {
        name
        for name in ov.__all__
        if isinstance(getattr(ov, name), type) and hasattr(getattr(ov, name), "fit_resample")
    } - {"FeatureOverSampler"}
    assert public == {type(s).__name__ for s in SAMPLERS}

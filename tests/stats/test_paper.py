"""Tests of seedprints.stats.paper_test against an independent slow implementation.

The slow implementation follows the released SeedPrints code's arithmetic (arXiv 2509.26404,
``run_test(..., method="analytical")``) with plain numpy selection, ``scipy.stats.kendalltau``
column by column and ``scipy.stats.norm``.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from seedprints.errors import (
    IncompatibleFingerprintsError,
    InsufficientDataError,
    LowPowerWarning,
    NonFiniteHiddenStatesError,
    UsageError,
)
from seedprints.naming import cli_naming
from seedprints.stats import LineageResult, paper_test


def slow_paper(h_ref, h_sus, buffer_k, identity_mode="coset", use_agg=False, temperature=10.0):
    """Column-by-column reference: returns (z, log10_p, tau_mean, k)."""
    h_ref = np.asarray(h_ref, dtype=np.float32)
    h_sus = np.asarray(h_sus, dtype=np.float32)

    import torch
    import torch.nn.functional as F

    def bottom(h):
        return set(torch.topk(torch.from_numpy(h).mean(dim=0), buffer_k, largest=False).indices.tolist())

    ids = bottom(h_ref) & bottom(h_sus) if identity_mode == "coset" else bottom(h_ref)
    idx = sorted(ids)

    def norm_rows(h):
        return F.softmax(torch.from_numpy(h[:, idx]) / temperature, dim=1).numpy()

    a, b = norm_rows(h_ref), norm_rows(h_sus)
    taus = [stats.kendalltau(a[:, j], b[:, j]).statistic for j in range(len(idx))]
    n, k = h_ref.shape[0], len(idx)
    sd = math.sqrt(2.0 * (2 * n + 5) / (9.0 * n * (n - 1)))  # Kendall (1938)
    tau_mean = float(np.mean(taus))
    z = tau_mean / (sd / math.sqrt(k))
    log_p = math.log(2) + stats.norm.logsf(z)
    if use_agg:
        agg = stats.kendalltau(
            torch.from_numpy(h_ref[:, idx]).mean(dim=1).numpy(), torch.from_numpy(h_sus[:, idx]).mean(dim=1).numpy()
        ).statistic
        z = max(z, agg / sd)
        log_p = 2 * math.log(2) + stats.norm.logsf(z)
    return z, min(0.0, log_p / math.log(10)), tau_mean, k


def related(n, d, noise, seed):
    """A reference and a noisy copy, with per-dimension offsets so identity sets overlap."""
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal((n, d)).astype(np.float32) + rng.standard_normal(d).astype(np.float32)
    return ref, (ref + noise * rng.standard_normal((n, d))).astype(np.float32)


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


class TestPaperTest:
    @pytest.mark.parametrize("identity_mode", ["coset", "base"])
    @pytest.mark.parametrize("use_agg", [False, True])
    @pytest.mark.parametrize("noise", [1.0, 20.0])
    def test_matches_slow_implementation(self, identity_mode, use_agg, noise):
        ref, sus = related(400, 96, noise, seed=11)
        res = paper_test(ref, sus, buffer_k=30, identity_mode=identity_mode, use_agg=use_agg)
        z, log10_p, tau_mean, k = slow_paper(ref, sus, 30, identity_mode, use_agg)
        assert res.k == k and res.n == 400
        assert res.z == pytest.approx(z, rel=1e-6)
        assert res.tau_mean == pytest.approx(tau_mean, rel=1e-6)
        assert res.log10_p == pytest.approx(log10_p, rel=1e-6, abs=1e-12)
        assert res.p_value == pytest.approx(min(1.0, 10.0**log10_p), rel=1e-6)
        assert res.verdict == ("same-lineage" if log10_p < -2 else "independent")

    def test_independent_models(self):
        rng = np.random.default_rng(12)
        ref, sus = rng.standard_normal((2, 500, 80)).astype(np.float32)
        res = paper_test(ref, sus, buffer_k=40)
        z, log10_p, _, k = slow_paper(ref, sus, 40)
        assert (res.k, res.verdict) == (k, "independent")
        assert res.z == pytest.approx(z, rel=1e-6)
        assert res.log10_p == pytest.approx(log10_p, abs=1e-12)

    def test_log10_p_exact_far_below_underflow(self):
        ref, sus = related(5000, 200, 0.01, seed=13)
        res = paper_test(ref, sus, buffer_k=20)
        z, log10_p, _, _ = slow_paper(ref, sus, 20)
        assert res.p_value == 0.0
        assert math.isfinite(res.log10_p) and res.log10_p < -300
        assert res.log10_p == pytest.approx(log10_p, rel=1e-6)
        assert res.z == pytest.approx(z, rel=1e-6)
        assert res.verdict == "same-lineage"

    def test_agg_details_and_bonferroni(self):
        ref, sus = related(300, 64, 1.0, seed=14)
        plain = paper_test(ref, sus, buffer_k=20)
        agg = paper_test(ref, sus, buffer_k=20, use_agg=True)
        d = agg.details
        assert d["z_perdim"] == plain.z == agg.z == d["z_max"] > d["z_agg"]
        assert d["z_agg"] == pytest.approx(d["agg_tau"] / d["null_sd"])
        assert agg.log10_p == pytest.approx(plain.log10_p + math.log10(2))  # p doubled again

    def test_agg_signal_can_win(self):
        # a shared per-probe shift: softmax removes it, the raw row means keep it
        rng = np.random.default_rng(26)
        shift = 3.0 * rng.standard_normal((300, 1))
        offsets = rng.standard_normal(64)
        ref = (rng.standard_normal((300, 64)) + shift + offsets).astype(np.float32)
        sus = (rng.standard_normal((300, 64)) + shift + offsets).astype(np.float32)
        res = paper_test(ref, sus, buffer_k=20, use_agg=True)
        assert res.z == res.details["z_agg"] > 10 > res.details["z_perdim"]
        z, log10_p, _, _ = slow_paper(ref, sus, 20, use_agg=True)
        assert res.z == pytest.approx(z, rel=1e-6)
        assert res.log10_p == pytest.approx(log10_p, rel=1e-6)

    def test_torch_tensors_give_the_numpy_result(self):
        torch = pytest.importorskip("torch")
        ref, sus = related(300, 64, 2.0, seed=15)
        expected = paper_test(ref, sus, buffer_k=20, use_agg=True)
        got = paper_test(
            torch.from_numpy(ref).requires_grad_(), torch.from_numpy(sus), buffer_k=20, use_agg=True
        )
        assert got == expected

    def test_identity_dims_match_torch_topk(self):
        torch = pytest.importorskip("torch")
        ref, sus = related(300, 64, 2.0, seed=16)
        res = paper_test(ref, sus, buffer_k=20)

        def bottom(h):
            t = torch.from_numpy(h)
            return set(torch.topk(t.mean(dim=0), 20, largest=False).indices.tolist())

        assert res.details["identity_overlap"] == len(bottom(ref) & bottom(sus)) == res.k

    def test_result_fields(self):
        ref, sus = related(200, 40, 1.0, seed=17)
        res = paper_test(ref, sus, buffer_k=10, identity_mode="base", temperature=5.0, alpha=0.05)
        assert isinstance(res, LineageResult)
        assert res.method == "paper" and res.alpha == 0.05
        assert res.settings == {
            "buffer_k": 10,
            "identity_mode": "base",
            "use_agg": False,
            "temperature": 5.0,
        }
        assert {"k_requested", "k_selected", "identity_overlap", "k_constant_dropped"} <= set(
            res.details
        )
        assert res.details["k_requested"] == res.details["k_selected"] == res.k == 10
        statistic, pvalue = res
        assert (statistic, pvalue) == (res.z, res.p_value)
        json.dumps(res.to_dict(), allow_nan=False)

    def test_float64_and_lists_are_accepted(self):
        ref, sus = related(100, 20, 1.0, seed=18)
        expected = paper_test(ref, sus, buffer_k=5)
        assert paper_test(ref.astype(np.float64), sus.tolist(), buffer_k=5) == expected

    def test_no_shared_dimension_returns_p_one(self):
        rng = np.random.default_rng(19)
        offsets = np.arange(20, dtype=np.float32)
        ref = rng.standard_normal((50, 20)).astype(np.float32) + offsets  # bottom dims 0, 1, 2
        sus = rng.standard_normal((50, 20)).astype(np.float32) - offsets  # bottom dims 17-19
        with pytest.warns(LowPowerWarning, match="no usable identity dimension"):
            res = paper_test(ref, sus, buffer_k=3, use_agg=True)
        assert (res.p_value, res.log10_p, res.z, res.k) == (1.0, 0.0, 0.0, 0)
        assert res.verdict == "independent" and res.tau_mean is None
        assert res.details["identity_overlap"] == 0
        json.dumps(res.to_dict(), allow_nan=False)
        with pytest.warns(LowPowerWarning, match="only 3 identity"):
            base = paper_test(ref, sus, buffer_k=3, identity_mode="base")
        assert base.k == 3

    def test_low_power_advice_names_python_parameters(self):
        ref, sus = related(50, 20, 1.0, seed=19)
        with pytest.warns(LowPowerWarning) as coset:
            paper_test(ref, sus, buffer_k=1)
        with pytest.warns(LowPowerWarning) as base:
            paper_test(ref, sus, buffer_k=1, identity_mode="base")
        coset_text, base_text = str(coset[0].message), str(base[0].message)
        assert coset_text.endswith("Try identity mode 'base' (identity_mode='base') or a larger buffer k (buffer_k=)")
        assert base_text.endswith("Try a larger buffer k (buffer_k=)")  # base mode is already in use
        assert "--" not in coset_text + base_text

    def test_low_power_advice_names_flags_on_the_cli(self):
        ref, sus = related(50, 20, 1.0, seed=19)
        with cli_naming(), pytest.warns(LowPowerWarning) as coset:
            paper_test(ref, sus, buffer_k=1)
        text = str(coset[0].message)
        assert text.endswith("Try identity mode 'base' (--identity-mode base) or a larger buffer k (--buffer-k)")
        assert "identity_mode=" not in text

    def test_constant_normalised_column_is_dropped(self):
        ref, sus = related(60, 10, 1.0, seed=20)
        # one selected column: its softmax is identically 1, so tau is undefined
        with pytest.warns(LowPowerWarning, match="no usable identity dimension"):
            res = paper_test(ref, sus, buffer_k=1, identity_mode="base")
        assert res.k == 0 and res.details["k_constant_dropped"] == 1 and res.p_value == 1.0

    def test_no_warning_with_enough_dimensions(self):
        ref, sus = related(100, 40, 1.0, seed=21)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            paper_test(ref, sus, buffer_k=10)

    @pytest.mark.parametrize(
        ("ref_shape", "sus_shape", "needle"),
        [
            ((50,), (50,), "2-D"),
            ((5, 10, 4), (5, 10, 4), "2-D"),
            ((50, 32), (50, 64), "equal widths"),
            ((50, 32), (40, 32), "same probes"),
        ],
    )
    def test_incompatible_shapes(self, ref_shape, sus_shape, needle):
        with pytest.raises(IncompatibleFingerprintsError) as excinfo:
            paper_test(np.zeros(ref_shape), np.ones(sus_shape), buffer_k=1)
        message = one_line(excinfo)
        assert needle in message
        assert str(ref_shape) in message and str(sus_shape) in message

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    @pytest.mark.parametrize("which", ["reference", "suspect"])
    def test_non_finite(self, bad, which):
        ref, sus = related(50, 16, 1.0, seed=22)
        (ref if which == "reference" else sus)[3, 4] = bad
        with pytest.raises(NonFiniteHiddenStatesError) as excinfo:
            paper_test(ref, sus, buffer_k=4)
        message = one_line(excinfo)
        assert which in message and "float32 or bf16" in message

    def test_too_few_probes(self):
        ref, sus = related(9, 16, 1.0, seed=23)
        with pytest.raises(InsufficientDataError) as excinfo:
            paper_test(ref, sus, buffer_k=4)
        assert "at least 10" in one_line(excinfo)

    @pytest.mark.parametrize("buffer_k", [0, -3, 41, 2.5, True, "10"])
    def test_bad_buffer_k(self, buffer_k):
        ref, sus = related(20, 40, 1.0, seed=24)
        with pytest.raises(UsageError) as excinfo:
            paper_test(ref, sus, buffer_k=buffer_k)
        message = one_line(excinfo)
        assert "from 1 to d=40" in message and "10% of d, buffer_k=4" in message

    @pytest.mark.parametrize(
        ("kwargs", "needle"),
        [
            ({"identity_mode": "union"}, "identity_mode"),
            ({"temperature": 0.0}, "temperature"),
            ({"temperature": float("nan")}, "temperature"),
            ({"alpha": 1.5}, "alpha"),
            ({"alpha": 0.0}, "alpha"),
        ],
    )
    def test_bad_settings(self, kwargs, needle):
        ref, sus = related(20, 40, 1.0, seed=25)
        with pytest.raises(UsageError) as excinfo:
            paper_test(ref, sus, buffer_k=4, **kwargs)
        assert needle in one_line(excinfo)

"""Verify evidence bundles: check the seal, the signature and every embedded fingerprint's hash, and recompute every
recorded statistic from the embedded fingerprints (floats within :data:`~seedprints.bundle.layout.REL_TOLERANCE`)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seedprints import fingerprint as _fpfile
from seedprints import machine as _machine
from seedprints import signing
from seedprints.bundle.layout import (
    ABS_TOLERANCE, BUNDLE_FORMAT, ENCODINGS, KINDS, MAX_BUNDLE_BYTES, REL_TOLERANCE, SEAL_ALGORITHM, BundleError,
    EmbeddedFingerprint, canonical_json, environment, parse_embedded,
)
from seedprints.encoding import RankedFingerprint, rank_fingerprint
from seedprints.errors import IncompatibleFingerprintsError, SeedprintsError
from seedprints.fingerprint import Fingerprint
from seedprints.inputs import load_json, short_repr, special_file
from seedprints.stats.lineage import lineage_test_ranked
from seedprints.stats.multiple import adjusted_from_smallest
from seedprints.stats.result import LineageResult, verdict_for

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_MAX_FAMILY = 10**12  # tests in one identify scan: far beyond any registry
_SETTING_LIMITS = {"n_permutations": (0, 100_000), "seed": (0, 2**63 - 1), "budget": (1, _fpfile.MAX_ROWS),
                   "buffer_k": (1, _fpfile.MAX_COLUMNS)}  # what a run can have used; more would only exhaust memory
_COMPUTING = ("seedprints", "numpy", "scipy")  # whose code computes the statistics verify recomputes
_FACT_LABELS = {**_machine.LABELS, "seedprints": "seedprints version"}


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_bundle` confirmed.

    Attributes
    ----------
    path : str
        The bundle.
    kind : str
        ``"compare"`` or ``"identify"``.
    digest : str
        The bundle's seal (SHA-256).
    fingerprints : dict of str to str
        Name -> SHA-256 of each embedded fingerprint, all re-hashed.
    tests : list of dict
        Per test: reference, suspect, method, verdict, log10_p, each recomputed.
    identical : bool
        True when every recomputed number equals the recorded one bit for bit. When False, they still
        agree within ``REL_TOLERANCE`` (else verification fails): expected with another CPU, BLAS build
        or thread count, and for identify bundles (whose scan sums many entries at once) on any machine.
    max_relative_difference : float
        Largest relative difference between a recorded and a recomputed float.
    same_versions : bool
        True when the recorded seedprints, numpy and scipy versions are the ones running now.
    family : dict or None
        For an identify bundle: the tests ``tested`` in the family, the ``candidates`` checked, the
        ``level`` of the verdicts, and ``bh`` = "exact" (every tested entry listed) or "bounded".
    signed_by : str or None
        Key id of the Ed25519 key whose signature was checked, or None for an unsigned bundle.
    environment_differences : dict or None
        Each recorded fact that differs here (keys of :func:`seedprints.machine.describe` and the
        seedprints, numpy and scipy versions) as ``{"bundle": ..., "here": ...}``; empty when all
        match, None when the bundle records no machine (written before seedprints recorded one).
    """

    path: str
    kind: str
    digest: str
    fingerprints: dict[str, str]
    tests: list[dict[str, Any]]
    identical: bool
    max_relative_difference: float
    same_versions: bool
    family: dict[str, Any] | None = None
    signed_by: str | None = None
    environment_differences: dict[str, dict[str, str]] | None = None

    @property
    def reproduced(self) -> str:
        """How the numbers agreed: ``"bit for bit"`` or ``"within tolerance"`` (anything else fails verification)."""
        return "bit for bit" if self.identical else "within tolerance"

    def agreement(self) -> str:
        """One sentence saying whether the numbers reproduced bit for bit or only within the stated tolerance, and why."""
        if self.identical:
            return "numbers reproduced bit for bit"
        return (f"numbers reproduced within tolerance {REL_TOLERANCE:g} relative (largest difference "
                f"{self.max_relative_difference:.1e}), not bit for bit: {self._why_not_bit_for_bit()}")

    def _why_not_bit_for_bit(self) -> str:
        """Why the last digits moved: what differs from the machine that wrote the bundle, or the path its numbers took."""
        differ = self.environment_differences
        if differ is None:
            return ("the bundle does not record the machine that wrote it; another CPU, BLAS build or thread count sums "
                    "in another order, which moves the last digits")
        if differ:
            listed = "; ".join(f"{_FACT_LABELS.get(key, key + ' version')}: {_shown(key, v['bundle'])} there, "
                               f"{_shown(key, v['here'])} here" for key, v in differ.items())
            hint = ("; rerun verify with the writer's thread settings to reproduce them bit for bit"
                    if set(differ) == {"threads"} and self.kind == "compare" else "")
            return f"this run differs from the one that wrote the bundle in {listed}, which sums in another order{hint}"
        if self.kind == "identify":
            return ("identify's scan summed many registry entries at once where verify sums one pair at a time "
                    "(this machine, its BLAS and its thread settings match the bundle's)")
        return "the writing run summed in another order, although this machine, its BLAS and its thread settings match the bundle's"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, with how the numbers reproduced and the tolerance they were held to."""
        return {"verified": True, **dataclasses.asdict(self), "reproduced": self.reproduced,
                "tolerance": {"relative": REL_TOLERANCE, "absolute": ABS_TOLERANCE}}


def verify_bundle(path: str | Path, public_key: Ed25519PublicKey | None = None) -> VerifyResult:
    """Check a bundle's seal, signature and fingerprint hashes, and recompute every recorded statistic.

    Parameters
    ----------
    path : str or Path
        The bundle.
    public_key : Ed25519PublicKey, optional
        Accept the bundle only if this key signed it (:func:`seedprints.signing.load_public_key`).

    Returns
    -------
    VerifyResult
        What was confirmed (only returned when everything checks out).

    Raises
    ------
    BundleError
        The file is not a bundle, was edited after sealing or signing, is not signed by
        ``public_key``, an embedded fingerprint does not match its hash, or a recomputed number
        differs from the recorded one (one line naming which).
    """
    return verified_contents(path, public_key)[0]


def verified_contents(path: str | Path, public_key: Ed25519PublicKey | None = None
                      ) -> tuple[VerifyResult, dict[str, EmbeddedFingerprint]]:
    """:func:`verify_bundle`, also returning the embedded fingerprints it checked (their exact bytes) by name."""
    path = Path(path)
    try:
        if path.is_dir():
            raise BundleError(f"{path} is a directory, not an evidence bundle; give the bundle's JSON file")
        if special_file(path):
            raise BundleError(f"{path} is not a regular file (a pipe or device); give the bundle's JSON file")
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{path} is larger than {MAX_BUNDLE_BYTES >> 30} GiB; it is not an evidence bundle")
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleError(f"bundle {path} does not exist; check the path") from exc
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        bundle = load_json(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not an evidence bundle ({exc}); write one with `seedprints compare ... --bundle`") from exc
    with warnings.catch_warnings(record=True) as caught:  # shown only if the bundle verifies: a refusal is one line
        warnings.simplefilter("always")
        result = check_bundle(bundle, str(path))
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if public_key is not None:
        if result.signed_by is None:
            raise BundleError(f"{path} is not signed, but --public-key asks for a signature; ask for a bundle written with --sign")
        if result.signed_by != signing.key_id(public_key):
            raise BundleError(f"{path} is signed by key {result.signed_by}, not by the given key {signing.key_id(public_key)}; "
                              "check that --public-key is the signer's")
    embedded = {name: EmbeddedFingerprint(entry["encoding"], base64.b64decode(entry["data_base64"]),
                                          entry["source"] if isinstance(entry.get("source"), str) else None)
                for name, entry in bundle["fingerprints"].items()}
    return result, embedded


def check_bundle(bundle: Any, where: str) -> VerifyResult:
    """Every check of :func:`verify_bundle` on a parsed bundle."""
    if not isinstance(bundle, dict) or "bundle_format" not in bundle:
        raise BundleError(f"{where} is not an evidence bundle (no bundle_format); write one with `seedprints compare ... --bundle`")
    if not isinstance(bundle["bundle_format"], str):
        raise BundleError(f"{where} is not an evidence bundle (its bundle_format is not text); it is corrupt or was edited")
    if bundle["bundle_format"] != BUNDLE_FORMAT:
        raise BundleError(
            f"{where} has bundle format {short_repr(bundle['bundle_format'])}; this seedprints reads format "
            f"{BUNDLE_FORMAT!r}: upgrade seedprints"
        )
    stated = bundle.get("seal")
    if not (isinstance(stated, dict) and isinstance(stated.get("digest"), str)):
        raise BundleError(f"{where} has no seal; it is incomplete or was edited, ask for the original bundle")
    if stated.get("algorithm") != SEAL_ALGORITHM:
        raise BundleError(f"{where} is sealed with {short_repr(stated.get('algorithm'))}; this seedprints checks "
                          f"{SEAL_ALGORITHM!r} seals, so the bundle was edited or is not ours")
    try:
        text = canonical_json(bundle)  # what the seal hashes and the signature signs
    except ValueError as exc:  # NaN or Inf in the JSON
        raise BundleError(f"{where} holds a non-finite number ({exc}); it was edited, ask for the original bundle") from exc
    digest = hashlib.sha256(text).hexdigest()
    if digest != stated["digest"]:
        raise BundleError(f"{where}: the seal does not match its contents; the bundle was edited after it was written")
    signed_by = None
    if "signature" in bundle:
        try:
            signed_by = signing.check(text, bundle["signature"])
        except ValueError as exc:
            raise BundleError(f"{where}: {exc}") from exc
    kind, fps, tests = bundle.get("kind"), bundle.get("fingerprints"), bundle.get("tests")
    if kind not in KINDS or not isinstance(fps, dict) or not isinstance(tests, list) or not tests:
        raise BundleError(f"{where} lacks its kind, fingerprints or tests; it is not a complete evidence bundle")
    unprintable = [name for name in fps if not name.isprintable()]
    if unprintable:
        raise BundleError(f"{where} names a fingerprint {short_repr(unprintable[0])} with control characters "
                          "(names are shown as they are, so they must be printable); the bundle was edited")
    loaded = {name: _load_embedded(name, entry, where) for name, entry in fps.items()}
    checked, diffs = [], []
    for i, test in enumerate(tests):
        summary, test_diffs = _recompute(i, test, loaded, where)
        checked.append(summary)
        diffs.extend(test_diffs)
    family = _check_identification(bundle.get("identification"), checked, where) if kind == "identify" else None
    env = bundle.get("environment") if isinstance(bundle.get("environment"), dict) else {}
    now = environment()
    recorded = bundle.get("machine")
    differences = None if not isinstance(recorded, dict) else _machine.differences(
        {**{k: env.get(k, "") for k in _COMPUTING}, **recorded}, {**{k: now[k] for k in _COMPUTING}, **_machine.describe()})
    return VerifyResult(
        path=where, kind=kind, digest=digest, fingerprints={name: fps[name]["sha256"] for name in fps}, tests=checked,
        identical=all(d == 0.0 for d in diffs), max_relative_difference=max(diffs, default=0.0),
        same_versions=all(env.get(k) == now[k] for k in _COMPUTING), family=family, signed_by=signed_by,
        environment_differences=differences,
    )


def _check_identification(section: Any, checked: list[dict[str, Any]], where: str) -> dict[str, Any]:
    """Recompute an identify bundle's Holm-adjusted p-values and bound its BH ones from the recomputed tests."""

    what = f"{where}: identification"
    if not isinstance(section, dict):
        raise BundleError(f"{where} lacks its identification section (tests in the family, adjusted p-values); "
                          "it is not a complete identify bundle")
    tested, alpha, level, candidates = (section.get(k) for k in ("tested", "alpha", "level", "candidates"))
    sequential = section.get("sequential")
    if not (_is_int(tested) and 1 <= tested <= _MAX_FAMILY and isinstance(alpha, float) and 0 < alpha < 1
            and isinstance(level, float) and 0 < level <= alpha and isinstance(sequential, bool)):
        raise BundleError(f"{what} has tested {short_repr(tested)}, alpha {short_repr(alpha)}, level "
                          f"{short_repr(level)}; expected a count in 1..{_MAX_FAMILY} and 0 < level <= alpha < 1")
    if not sequential and level != alpha:
        raise BundleError(f"{what}: level {level!r} differs from alpha {alpha!r} without early stopping")
    indices = [c.get("test") if isinstance(c, dict) else None for c in candidates] if isinstance(candidates, list) else []
    if (not indices or len(indices) > tested or not all(_is_int(i) and 0 <= i < len(checked) for i in indices)
            or len(set(indices)) != len(indices)):
        raise BundleError(f"{what}: candidates must name 1 to {tested} distinct tests of the bundle by index")
    log10_p = [checked[i]["log10_p"] for i in indices]
    if any(b < a for a, b in zip(log10_p, log10_p[1:])):
        raise BundleError(f"{what}: candidates are not in order of evidence (ascending log10 p)")
    holm, low, high = adjusted_from_smallest(log10_p, tested)
    for rank, (c, h, lo, hi) in enumerate(zip(candidates, holm, low, high), 1):
        name = f"{what}: candidate {rank} ({short_repr(checked[c['test']]['reference'])})"
        recorded_holm, recorded_bh = c.get("log10_p_holm"), c.get("log10_p_bh")
        if not (isinstance(recorded_holm, float) and isinstance(recorded_bh, float)):
            raise BundleError(f"{name} lacks its adjusted p-values")
        if not math.isclose(recorded_holm, float(h), rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE):
            raise BundleError(f"{name}: Holm-adjusted log10 p is {recorded_holm!r} but recomputes to {float(h)!r}; "
                              "the recorded identification does not recompute")
        slack = ABS_TOLERANCE + REL_TOLERANCE * max(abs(lo), abs(hi))
        if not lo - slack <= recorded_bh <= hi + slack:
            raise BundleError(f"{name}: BH-adjusted log10 p {recorded_bh!r} lies outside [{float(lo)!r}, {float(hi)!r}], "
                              f"the bounds its listed p-values and {tested} tests allow; the recorded identification "
                              "does not recompute")
        expected = (verdict_for(recorded_holm, level), verdict_for(recorded_bh, level))
        if (c.get("verdict"), c.get("bh_verdict")) != expected:
            recorded = [c.get("verdict"), c.get("bh_verdict")]
            raise BundleError(f"{name}: verdicts {short_repr(recorded)} do not follow from its adjusted p-values at level "
                              f"{level!r} (expected {list(expected)}); the recorded identification does not recompute")
    return {"tested": tested, "candidates": len(indices), "level": level, "sequential": sequential,
            "bh": "exact" if len(indices) == tested else "bounded"}


def _shown(key: str, value: str) -> str:
    """A recorded fact as a message prints it: thread settings "default" when none was set, an odd value as its repr."""
    if not value:
        return "default" if key == "threads" else "unknown"
    return value if value.isprintable() and len(value) <= 60 else short_repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_embedded(name: str, entry: Any, where: str) -> Fingerprint | RankedFingerprint:
    """Decode, hash-check and parse one embedded fingerprint."""
    if not isinstance(entry, dict) or entry.get("encoding") not in ENCODINGS or not isinstance(entry.get("data_base64"), str):
        raise BundleError(f"{where}: fingerprint {short_repr(name)} lacks its encoding or data; the bundle is incomplete")
    try:
        data = base64.b64decode(entry["data_base64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{where}: fingerprint {short_repr(name)} is not valid base64; the bundle is corrupt") from exc
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise BundleError(f"{where}: fingerprint {short_repr(name)} does not match its SHA-256; the embedded data was altered")
    item = parse_embedded(entry["encoding"], data, f"{where}: fingerprint {short_repr(name)}")
    for key, value in (("probe_hash", item.probe_hash), ("model_id", item.model_id), ("n", item.n), ("hidden_size", item.hidden_size)):
        if entry.get(key) != value:
            raise BundleError(f"{where}: fingerprint {short_repr(name)} says {key} {short_repr(entry.get(key))} but holds {value!r}")
    return item


def _recompute(i: int, test: Any, loaded: dict[str, Any], where: str) -> tuple[dict[str, Any], list[float]]:
    """Rerun one recorded test from the embedded fingerprints and compare every field of its result."""
    from seedprints.stats.methods import METHODS  # the paper method: scipy.stats

    what = f"{where}: test {i + 1}"
    if not isinstance(test, dict) or not isinstance(test.get("result"), dict) or not isinstance(test.get("settings"), dict):
        raise BundleError(f"{what} lacks its result or settings; the bundle is incomplete")
    names = (test.get("reference"), test.get("suspect"))
    if not all(isinstance(n, str) and n in loaded for n in names):
        raise BundleError(f"{what} names fingerprints {short_repr(list(names))} that the bundle does not embed")
    method, alpha = test.get("method"), test.get("alpha")
    if method not in METHODS or not isinstance(alpha, float):
        raise BundleError(f"{what} has method {short_repr(method)} and alpha {short_repr(alpha)}; "
                          f"expected one of {', '.join(METHODS)} and a number")
    ref, sus = (loaded[n] for n in names)
    for key, value in test["settings"].items():
        low, high = _SETTING_LIMITS.get(key, (None, None))
        if low is not None and value is not None and not (_is_int(value) and low <= value <= high):
            raise BundleError(f"{what} has setting {key} = {short_repr(value)}; expected an integer in {low}..{high}, "
                              "so the bundle was edited")
    try:
        result = _run(method, ref, sus, alpha, test["settings"])
    except SeedprintsError as exc:
        raise BundleError(f"{what} cannot be recomputed: {exc}") from exc
    except TypeError as exc:  # settings the method does not take
        raise BundleError(f"{what} has settings the {method} method does not take ({exc})") from exc
    recomputed = result.to_dict()
    diffs: list[float] = []
    mismatch = _first_mismatch(test["result"], recomputed, "", diffs)
    if mismatch:
        raise BundleError(f"{what} ({method}, {names[0]} vs {names[1]}): {mismatch}; the recorded result does not recompute")
    summary = {"reference": names[0], "suspect": names[1], "method": method,
               "verdict": recomputed["verdict"], "log10_p": recomputed["log10_p"], "z": recomputed["z"]}
    return summary, diffs


def _run(method: str, ref: Any, sus: Any, alpha: float, settings: dict[str, Any]) -> LineageResult:
    """``seedprints.compare`` on full fingerprints, or the rank-only lineage test when either side is ranks."""
    if isinstance(ref, Fingerprint) and isinstance(sus, Fingerprint):
        from seedprints import pipeline  # scipy: only when a bundle is verified

        return pipeline.compare(ref, sus, method=method, alpha=alpha, **settings).result
    if method != "lineage" or ref.spec != sus.spec:
        raise IncompatibleFingerprintsError(f"method {method!r} on ranks needs the lineage method and equal probe specs")
    ranked = [x if not isinstance(x, Fingerprint) else rank_fingerprint(x) for x in (ref, sus)]
    return dataclasses.replace(lineage_test_ranked(ranked[0], ranked[1], alpha, **settings), probe_hash=ref.probe_hash)


def _first_mismatch(recorded: Any, recomputed: Any, key: str, diffs: list[float]) -> str | None:
    """Describe the first field where ``recorded`` and ``recomputed`` disagree (None when all agree)."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict) or set(recorded) != set(recomputed):
            return f"{key or 'result'} has fields {short_repr(sorted(recorded) if isinstance(recorded, dict) else recorded)}, expected {sorted(recomputed)}"
        for k in sorted(recomputed):
            found = _first_mismatch(recorded[k], recomputed[k], f"{key}.{k}" if key else k, diffs)
            if found:
                return found
        return None
    if isinstance(recomputed, float) and isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        try:
            recorded = float(recorded)
        except OverflowError:
            return f"{key} is an integer beyond any float but recomputes to {recomputed!r}"
        diff = 0.0 if recorded == recomputed else abs(recorded - recomputed) / max(abs(recomputed), abs(recorded))
        diffs.append(diff)
        if math.isclose(recorded, recomputed, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE):
            return None
        return f"{key} is {recorded!r} but recomputes to {recomputed!r}"
    if type(recorded) is not type(recomputed) or recorded != recomputed:
        return f"{key} is {short_repr(recorded)} but recomputes to {short_repr(recomputed)}"
    return None

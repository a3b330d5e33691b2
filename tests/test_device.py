"""``--device auto``, the default: cuda, then mps, then cpu; the fingerprint records the device that ran."""

from __future__ import annotations

import inspect

import pytest
import torch

import seedprints
from seedprints import seeds
from seedprints.model import device as extract
from seedprints.cli import compare, fingerprint, identify, matrix, registry, zoo
from seedprints.cli import seeds as seeds_cli
from seedprints.errors import UsageError


@pytest.fixture
def machine(monkeypatch):
    """Pretend this machine has the given accelerators."""

    def have(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return have


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_takes_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert extract.resolve_device("auto") == expected


def test_a_named_device_is_kept(machine):
    machine(cuda=True, mps=True)
    assert extract.resolve_device("cpu") == "cpu" and extract.resolve_device("cuda:1") == "cuda:1"


def test_parse_device_resolves_auto(machine):
    machine()
    assert extract.parse_device("auto") == torch.device("cpu")
    with pytest.raises(UsageError, match="use auto, cpu, cuda or cuda:N"):
        extract.parse_device("tpu-of-my-dreams")


@pytest.mark.parametrize("command", [compare.compare, fingerprint.fingerprint, identify.identify, matrix.matrix,
                                     seeds_cli.register, registry.add, zoo.evaluate, zoo.seeds, zoo.identify])
def test_cli_defaults_to_auto(command):
    assert inspect.signature(command).parameters["device"].default == "auto"


@pytest.mark.parametrize("function", [seeds.fingerprint_init, seeds.fingerprint_seeds, seeds.register_seeds])
def test_python_api_defaults_to_auto(function):
    """The seeds' functions take RunOptions (default None: RunOptions(), whose device is auto)."""
    assert inspect.signature(function).parameters["run"].default is None


def test_run_options_default_to_auto():
    """fingerprint_model, compare and identify take their device from RunOptions."""
    from seedprints.options import RunOptions

    assert RunOptions().device == "auto"


def test_fingerprint_records_the_device_that_ran(tiny_llama_dir):
    fp = seedprints.fingerprint_model(tiny_llama_dir, n=10, length=8)
    assert fp.metadata["device"] == str(extract.parse_device("auto"))

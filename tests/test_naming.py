"""A setting is named ``n=`` to a Python caller and ``--n`` on the command line, for the same message."""

from __future__ import annotations

import numpy as np
import pytest

from seedprints.fingerprint import Fingerprint
from seedprints.naming import cli_naming, setting, spoken
from seedprints.probes import token_spec

from .conftest import assert_one_line_error, run


class TestSetting:
    @pytest.mark.parametrize(("args", "python", "cli"), [
        (("n", 1000), "n=1000", "--n 1000"),
        (("dtype", "float32"), "dtype='float32'", "--dtype float32"),
        (("budget",), "budget=", "--budget"),
        (("early_stop", True), "early_stop=True", "--early-stop"),
        (("kind", "token"), "kind='token'", "--probe token"),  # the one parameter whose flag is another word
    ])
    def test_python_and_cli_names(self, args, python, cli):
        assert setting(*args) == python
        with cli_naming():
            assert setting(*args) == cli

    def test_metavar_stands_for_a_value_to_fill_in(self):
        assert setting("base", metavar="DIR") == "base=DIR"
        with cli_naming():
            assert setting("base", metavar="DIR") == "--base DIR"

    def test_spoken_picks_the_callers_words(self):
        assert spoken(cli="seedprints x", python="seedprints.x()") == "seedprints.x()"
        with cli_naming():
            assert spoken(cli="seedprints x", python="seedprints.x()") == "seedprints x"

    def test_cli_naming_ends_with_its_block(self):
        with pytest.raises(RuntimeError), cli_naming():
            raise RuntimeError
        assert setting("n") == "n="


def test_the_cli_names_flags_for_the_same_condition(tmp_path, capsys):
    """Too few probes: ``use n=1000 or more`` from Python (tests/test_api.py), ``--n 1000`` from ``compare``."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        fp = Fingerprint(hidden=rng.standard_normal((10, 16)).astype(np.float32), spec=token_spec(10, 4, 100), model_id=f"m{i}")
        paths.append(fp.save(tmp_path / f"m{i}.fp"))
    code, _, err = run(capsys, "compare", *paths)
    assert_one_line_error(code, err, "(use --n 1000 or more)")
    assert setting("n") == "n="  # the CLI's naming does not outlive main()

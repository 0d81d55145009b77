"""The ``slow`` marker is opt-in: skipped by default, run with ``--runslow``."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SLOW_TEST = """
import pytest

@pytest.mark.slow
def test_slow():
    pass

def test_fast():
    pass
"""


@pytest.mark.parametrize(("args", "passed", "skipped"), [((), 1, 1), (("--runslow",), 2, 0)])
def test_slow_tests_run_only_with_runslow(
    pytester: pytest.Pytester, args: tuple[str, ...], passed: int, skipped: int
) -> None:
    pytester.makeconftest((Path(__file__).parents[2] / "conftest.py").read_text())
    pytester.makepyfile(SLOW_TEST)
    pytester.runpytest_inprocess(*args).assert_outcomes(passed=passed, skipped=skipped)

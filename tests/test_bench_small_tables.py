"""benchmarks.small_tables refuses what it cannot run before fitting anything, in words."""

from __future__ import annotations

import pytest

from benchmarks import small_tables


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--trials", "-3"], "--trials must be a number of trials"),
        (["--budget", "-5"], "--budget must be at least 5 seconds"),
        (["--budget", "nan"], "--budget must be at least 5 seconds"),
        (["--budget", "abc"], "invalid float value"),
        (["--variants", "base,folds"], "unknown variant 'folds'"),
    ],
)
def test_bad_arguments_are_refused_in_words(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        small_tables.main(["--tables", "tips", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err

"""The command line's messages: errors and tracebacks printed verbatim, profile values checked before anything runs."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from fairlab import cli
from fairlab.cli import app


def test_an_error_message_is_printed_verbatim_whatever_square_brackets_it_holds(capsys):
    message = "found [np.float64(0.0), 1.0] in x[0][1], [bold]not bold[/bold] and [/oops]"
    with pytest.raises(typer.Exit):
        cli._fail(message)
    assert f"error: {message}" in capsys.readouterr().err


def test_a_profile_path_with_markup_in_its_name_is_named_in_the_error(tmp_path):
    path = tmp_path / "mine[/odd][bold].yml"
    result = CliRunner().invoke(app, ["profile", str(path)])
    assert result.exit_code == 2
    assert f"{path}: profile file not found" in result.output


def test_a_bad_override_value_names_the_key_and_the_valid_range_before_anything_runs():
    result = CliRunner().invoke(app, ["profile", "smoke", "-p", "aimfair.top_k=1000"])
    assert result.exit_code == 2
    assert "aimfair.top_k: Input should be less than or equal to 62 (got 1000)" in result.output

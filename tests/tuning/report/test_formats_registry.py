"""A report format is one entry of tuning.report.formats.FORMATS: the command line offers its name, and what it is
(binary, with a results file, with importance) decides what `tuning report` does around it."""

import argparse
import dataclasses
import json

import pytest

from tests.tuning.report.test_report import make_experiment
from tuning.cli.commands import build_parser
from tuning.errors import UserError
from tuning.report.formats import FORMATS, render, results_path, run_report, write
from tuning.report.load import load_report


@pytest.fixture
def experiment(tmp_path):
    trials = {
        f"t{i}": ("TERMINATED", [0.9 - 0.1 * i, 0.8 - 0.1 * i], {}, {"model.init_args.lr": 0.1 * (i + 1)})
        for i in range(6)
    }
    return str(make_experiment(tmp_path / "e", trials))


def _format_choices() -> list:
    report = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["report"]
    return list(next(a for a in report._actions if "--format" in a.option_strings).choices)


def test_report_offers_every_format_of_the_registry():
    assert _format_choices() == list(FORMATS)


def test_a_binary_format_is_never_printed(monkeypatch, experiment):
    report = load_report(experiment)
    json.loads(render(report, "json"))
    monkeypatch.setitem(FORMATS, "json", dataclasses.replace(FORMATS["json"], binary=True))
    with pytest.raises(UserError, match="--format json: needs --output PATH"):
        write(report, "json", None, None)
    with pytest.raises(UserError, match="--format json: needs --output PATH"):
        run_report(experiment, "json")
    with pytest.raises(UserError, match="--format json: not a text format; allowed here: table, markdown, csv, html"):
        render(report, "json")


def test_a_format_with_a_results_file_writes_it_next_to_the_output(monkeypatch, experiment, tmp_path):
    out = str(tmp_path / "r.json")
    assert run_report(experiment, "json", output=out) == [out]
    monkeypatch.setitem(FORMATS, "json", dataclasses.replace(FORMATS["json"], results=lambda report, top: "rows"))
    assert run_report(experiment, "json", output=out, force=True) == [out, str(results_path(out))]
    assert results_path(out).read_text() == "rows\n"


def test_a_format_shows_the_importance_its_entry_names(monkeypatch, experiment, capsys):
    run_report(experiment, "json")
    assert "importance" not in json.loads(capsys.readouterr().out)
    monkeypatch.setitem(FORMATS, "json", dataclasses.replace(FORMATS["json"], importance=("ped_anova",)))
    run_report(experiment, "json")
    assert "ped_anova" in json.loads(capsys.readouterr().out)["importance"]

"""`tuning init`: every template generates a project whose sweep runs as generated."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.in_process import tuning_here
from tuning.cli.scaffold import init_project, package_name, templates
from tuning.errors import UserError


def tuning(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tuning", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.integration
@pytest.mark.parametrize("template", templates())
def test_every_template_runs_as_generated(tmp_path, template):
    project = tmp_path / "my-project"
    result = tuning_here("init", str(project), "--template", template)
    assert result.returncode == 0, result.stderr
    assert (project / "my_project" / "model.py").is_file() and (project / "sweep.yaml").is_file()
    assert "__package__" not in (project / "sweep.yaml").read_text()
    assert str(project / "my_project" / "model.py") in result.stdout, "init names the files it wrote"
    # A tiny budget of the generated sweep (one trial of one epoch), run from inside the project as its README says
    # (in a process of its own: trials import the project from where tuning started).
    overrides = ["search.num_samples=1", "trainer.max_epochs=1"]
    if template == "text":  # not the user's ~/.cache
        overrides.append(f"data.init_args.cache_dir={tmp_path / 'text-cache'}")
    run = tuning("run", "sweep.yaml", *[a for o in overrides for a in ("--set", o)], cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(tuning_here("report", str(project / "runs" / "my-project"), "--format", "json").stdout)
    assert [t["status"] for t in report["trials"]] == ["completed"] and report["trials"][0]["metric"] is not None
    if template == "text":
        assert (tmp_path / "text-cache" / "tokenize_runs.jsonl").is_file()


def test_init_refuses_to_overwrite_and_names_the_files(tmp_path):
    init_project(str(tmp_path / "p"), "custom")
    (tmp_path / "p" / "sweep.yaml").write_text("mine")
    with pytest.raises(UserError, match="would overwrite .*sweep.yaml"):
        init_project(str(tmp_path / "p"), "custom")
    assert (tmp_path / "p" / "sweep.yaml").read_text() == "mine", "nothing was written"
    init_project(str(tmp_path / "p"), "custom", force=True)
    assert (tmp_path / "p" / "sweep.yaml").read_text() != "mine"


def test_unknown_template_exits_2(tmp_path, capsys):
    from tuning.cli.commands import main

    with pytest.raises(SystemExit) as done:  # argparse's refusal, in this process: exit 2 naming the choice
        main(["init", str(tmp_path / "x"), "--template", "vision"])
    assert done.value.code == 2 and "vision" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("folder, package", [("my-project", "my_project"), ("2fast", "p_2fast"), ("Exp.1", "exp_1")])
def test_package_names_are_identifiers(tmp_path, folder, package):
    assert package_name(tmp_path / folder) == package


def _readme_init_block() -> str:
    """The output of `tuning init my-project --template tabular` as the README shows it."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = readme.split("prints the files it wrote and the next command:\n```\n", 1)[1]
    return block.split("```", 1)[0]


def test_init_prints_the_files_it_wrote_as_the_readme_shows(tmp_path, monkeypatch):
    """`tuning init` run as the README's "Your own model in 5 minutes" says prints exactly the README's lines;
    for every template the printed `wrote` lines are exactly the files on disk, then the next command."""
    monkeypatch.chdir(tmp_path)
    result = tuning_here("init", "my-project", "--template", "tabular")
    assert result.returncode == 0, result.stderr
    assert result.stdout == _readme_init_block()
    for template in templates():
        folder = f"p-{template}"
        result = tuning_here("init", folder, "--template", template)
        assert result.returncode == 0, result.stderr
        *wrote, blank, last = result.stdout.splitlines()
        on_disk = {p.as_posix() for p in Path(folder).rglob("*") if p.is_file()}
        assert all(line.startswith("wrote ") for line in wrote) and len(wrote) == len(on_disk), template
        assert {line[len("wrote ") :] for line in wrote} == on_disk, template
        assert (blank, last) == ("", f"next: cd {folder} && tuning validate sweep.yaml && tuning run sweep.yaml")

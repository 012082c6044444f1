"""`import tuning` and the API's names stay light: no torch, Ray or pandas until a call needs them."""

from tests.imports import fresh_imports

HEAVY = ("torch", "ray", "pandas", "lightning", "pytorch_lightning")


def test_the_api_names_import_neither_torch_nor_ray_nor_pandas():
    code = "import tuning\ntuning.run, tuning.load, tuning.submit, tuning.SweepError, tuning.Experiment\n"
    out, err, imported = fresh_imports(code + "print(issubclass(tuning.SweepError, ValueError))", HEAVY)
    assert imported == [], err
    assert out.strip() == "True"
    assert fresh_imports("import tuning, pandas", HEAVY)[2] == ["pandas"]  # the probe sees one that is there


def test_the_sweep_error_is_the_one_the_cli_maps_to_exit_2():
    import tuning
    from tuning.errors import UserError

    assert tuning.SweepError is UserError and issubclass(UserError, ValueError)

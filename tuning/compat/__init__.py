"""The one seam: every reach into a private part of Ray, Tune, Lightning or Optuna, a module per library.

- `tuning.compat.ray`: Ray's core (constants, node start-up, key-value store, placement groups, runtime_env packaging);
- `tuning.compat.tune`: Ray Tune and Train (the files Tune writes into an experiment, its controller's trial state);
- `tuning.compat.lightning`: Lightning, either distribution;
- `tuning.compat.optuna`: Optuna (picklable samplers, a bounded TPE, a study's trial handle);
- `tuning.compat.study_search`: the sweep's Optuna searcher, a subclass of Tune's OptunaSearch.

Each module imports its library at its top, so this package imports none of them: import the module you need
where you need it (`tuning --help`, `validate` and `report` import neither Ray nor Lightning). Each function
says why the public API does not do the job; tests/tuning/compat/test_seam.py checks every reach against the
installed versions (pyproject.toml declares those tested) and tests/tuning/test_layout.py fails naming any
private reach outside this package.
"""

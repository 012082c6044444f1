"""The live progress view's text (the terminal redraw itself is checked in test_report_e2e.py)."""

from tuning.driver.progress import view


def test_view_counts_best_and_eta():
    lines = view(
        {"completed": 3, "errored": 1, "running": 2, "pending": 1},
        total=12,
        elapsed=80.0,
        metric="val_loss",
        best=0.1234567,
        best_config={"model.init_args.lr": 0.00312, "data.x.bs": 64},
    )
    assert lines == [
        "trials: 4/12 done (3 completed, 1 errored), 2 running, 6 pending   elapsed 1:20, eta 2:40",
        "best val_loss: 0.1235  lr=0.00312, bs=64",
    ]


def test_view_before_any_result():
    lines = view({}, total=None, elapsed=5.0, metric="acc", best=None, best_config={})
    assert lines == [
        "trials: 0 done (0 completed, 0 errored), 0 running, 0 pending   elapsed 0:05, eta -",
        "best acc: none yet",
    ]

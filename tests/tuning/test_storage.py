"""Storage as a path or a URI, and the every-node preflight (on the shared local Ray: one node)."""

import pytest

from tuning import storage
from tuning.errors import UserError


def test_locations_keep_uris_and_make_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.experiment_location("s3://bucket/runs/", "exp") == "s3://bucket/runs/exp"
    assert storage.experiment_location("runs", "exp") == str(tmp_path / "runs" / "exp")
    assert storage.is_uri("gs://b/p") and not storage.is_uri("/mnt/shared")


def test_write_read_and_copy_through_a_uri(tmp_path):
    exp = f"file://{tmp_path}/store/exp"
    assert not storage.is_nonempty(exp)
    storage.write_text(f"{exp}/sweep.yaml", "name: exp\n")
    storage.write_text(f"{exp}/trial_1/result.json", "{}\n")
    storage.write_text(f"{exp}/trial_1/checkpoint_000001/checkpoint.ckpt", "weights")
    assert storage.is_nonempty(exp)
    assert storage.read_text(f"{exp}/sweep.yaml") == "name: exp\n"
    local = storage.local_copy(exp, into=str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "exp" / "trial_1" / "result.json").is_file()
    assert not (tmp_path / "copy" / "exp" / "trial_1" / "checkpoint_000001").exists(), "checkpoints stay remote"
    assert local == str(tmp_path / "copy" / "exp")
    assert storage.local_copy("/some/path") == "/some/path"


def test_every_node_checks_the_storage_and_the_markers_are_removed(ray_session, tmp_path):
    assert storage.check_nodes(str(tmp_path)) == len([n for n in ray_session.nodes() if n["Alive"]])
    assert not (tmp_path / storage.PREFLIGHT_DIR).exists()


def test_storage_the_driver_cannot_write_is_refused(ray_session, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(UserError, match="run.storage .*file: the driver cannot write there"):
        storage.check_nodes(str(tmp_path / "file"))


def test_a_node_that_sees_another_directory_is_named(tmp_path):
    # What a node-local path looks like from another machine: the driver's marker holds something else.
    marker = tmp_path / "m" / "driver"
    storage.write_text(str(marker), "someone else's token")
    why = storage._node_check(str(tmp_path), str(marker), "the driver's token", "node1")
    assert "not the file the driver wrote there" in why
    assert storage._node_check(str(tmp_path), str(tmp_path / "absent" / "driver"), "t", "node1").startswith(
        "FileNotFoundError"
    )
    storage.write_text(str(marker), "t")
    assert storage._node_check(str(tmp_path), str(marker), "t", "node1") is None


def test_a_report_from_a_uri_leaves_no_copy_behind(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from tests.tuning.report.test_report import make_experiment

    exp = make_experiment(tmp_path / "e", {"a": ("TERMINATED", [0.5], {}), "b": ("TERMINATED", [0.4], {})})
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}  # where tempfile.mkdtemp puts the download
    out = subprocess.run(
        [sys.executable, "-m", "tuning", "report", exp.as_uri(), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert [t["trial_id"] for t in json.loads(out.stdout)["trials"]] == ["b", "a"]  # read from the copy
    # The copy lived during the command (the report was read from it) and is gone afterwards.
    assert json.loads(out.stdout)["experiment"].startswith(str(temp / "tuning-report-"))
    assert list(temp.iterdir()) == []


class _Crafted:
    """A pyarrow filesystem as local_copy uses it, whose listing also names keys a bucket may hold."""

    def __init__(self, root, names):
        from pyarrow import fs

        self.local, self.root, self.names = fs.LocalFileSystem(), str(root), names

    def get_file_info(self, selector):
        from pyarrow import fs

        crafted = [fs.FileInfo(f"{self.root}/{name}", type=fs.FileType.File, size=4) for name in self.names]
        return self.local.get_file_info(selector) + crafted

    def open_input_stream(self, path):
        import pyarrow as pa

        return (
            pa.BufferReader(b"evil") if path[len(self.root) + 1 :] in self.names else self.local.open_input_stream(path)
        )


def test_a_remote_key_with_dots_cannot_write_outside_the_copy(tmp_path, monkeypatch):
    exp = tmp_path / "store" / "exp"
    storage.write_text(str(exp / "sweep.yaml"), "name: exp\n")
    names = ["../../escaped.txt", "trial_1/../../../escaped.txt", "/escaped.txt", "a//escaped.txt", "./x"]
    monkeypatch.setattr(storage, "_fs", lambda location: (_Crafted(exp, names), str(exp)))
    with pytest.warns(UserWarning, match="would land outside the local copy") as caught:
        local = storage.local_copy("s3://bucket/exp", into=str(tmp_path / "copy" / "deep"))
    assert len(caught) == len(names)
    assert (tmp_path / "copy" / "deep" / "exp" / "sweep.yaml").read_text() == "name: exp\n"
    assert [p for p in tmp_path.rglob("escaped.txt")] == [] and local == str(tmp_path / "copy" / "deep" / "exp")


def test_the_path_check_keeps_names_inside_the_root(tmp_path):
    root = tmp_path / "copy"
    root.mkdir()
    assert storage.inside(root, "trial_1/result.json") == root / "trial_1" / "result.json"
    assert storage.inside(root, "a..b/c..") == root / "a..b" / "c.."  # dots inside a name are fine
    for bad in ("..", "../x", "a/../../x", "/etc/passwd", "a//b", "", "./a"):
        assert storage.inside(root, bad) is None, bad
    (root / "link").symlink_to(tmp_path)  # a link already there that points out of the copy
    assert storage.inside(root, "link/x") is None


def _claim(location, barrier, results):
    barrier.wait()
    try:
        storage.claim(location, "name: exp\n")
        results.put("claimed")
    except UserError as exc:
        results.put(str(exc))


def test_of_runs_claiming_one_experiment_at_the_same_moment_exactly_one_proceeds(tmp_path):
    """Eight processes released together create the experiment's sweep.yaml: one wins, seven get the message."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    location = str(tmp_path / "runs" / "exp" / "sweep.yaml")
    procs = [ctx.Process(target=_claim, args=(location, barrier, results)) for _ in range(8)]
    for proc in procs:
        proc.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    assert outcomes.count("claimed") == 1, outcomes
    assert all("was just taken by another run" in o for o in outcomes if o != "claimed")
    assert (tmp_path / "runs" / "exp" / "sweep.yaml").read_text() == "name: exp\n"


def test_check_writable_creates_nothing_and_names_a_file_in_the_way(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file, not a directory"):
        storage.check_writable(str(tmp_path / "file" / "runs" / "exp"), "--storage")
    storage.check_writable(str(tmp_path / "new" / "runs" / "exp"), "--storage")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]

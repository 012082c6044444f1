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
        "FileNotFoundError")
    storage.write_text(str(marker), "t")
    assert storage._node_check(str(tmp_path), str(marker), "t", "node1") is None

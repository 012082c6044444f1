"""tuning.storage reads an experiment's small files (environment.json, the driver's lock, a node check's
marker, the study of a URI resume) as every reader of an experiment does (issue 32 item 2): a regular file
only, never a link out of its directory, at most so many bytes; anything else is a UserError naming it,
never a wait on a FIFO nor a read of /dev/zero until memory runs out."""

import os
from pathlib import Path

import pytest

from tuning import storage
from tuning.errors import UserError
from tuning.expdir import MAX_FILE_BYTES


@pytest.fixture(params=["path", "file-uri"])
def where(request, tmp_path):
    """location of a name inside tmp_path/exp, as a plain path or a file:// URI (both are local files)."""
    (tmp_path / "exp").mkdir()
    prefix = "file://" if request.param == "file-uri" else ""
    return lambda name: f"{prefix}{tmp_path / 'exp' / name}"


def _local(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def test_a_small_file_is_read_and_a_missing_one_is_file_not_found(where):
    storage.write_text(where("environment.json"), '{"runs": []}')
    assert storage.read_text(where("environment.json")) == '{"runs": []}'
    with pytest.raises(FileNotFoundError):
        storage.read_text(where("nothing.json"))
    assert storage.download_file(where("nothing.db"), _local(where("copy.db"))) is False


@pytest.mark.timeout(30, method="thread")  # a wait inside pyarrow's C++ open is deaf to the signal method
def test_a_fifo_is_refused_without_waiting(where, tmp_path):
    os.mkfifo(_local(where("environment.json")))
    with pytest.raises(UserError, match=r"environment.json: not read \(a FIFO, not a regular file\)"):
        storage.read_text(where("environment.json"))
    os.mkfifo(_local(where("optuna.db")))
    with pytest.raises(UserError, match=r"optuna.db: not read \(a FIFO, not a regular file\)"):
        storage.download_file(where("optuna.db"), tmp_path / "live.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"], "nothing is left where it was copied to"


def test_a_file_over_the_bound_is_refused_on_its_size(where, tmp_path):
    with open(_local(where("environment.json")), "ab") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(UserError, match=rf"environment.json: not read \({MAX_FILE_BYTES + 1} bytes, over the limit"):
        storage.read_text(where("environment.json"))
    _local(where("optuna.db")).write_bytes(b"x" * 2048)
    with pytest.raises(UserError, match=r"optuna.db: not read \(2048 bytes, over the limit of 1024\)"):
        storage.download_file(where("optuna.db"), tmp_path / "live.db", limit=1024)
    assert not (tmp_path / "live.db").exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", ["/dev/null", "outside"])  # /dev/zero: a regression would eat memory
def test_a_link_out_of_the_directory_is_refused(where, tmp_path, target):
    (tmp_path / "outside").write_text("someone else's file")
    _local(where(".tuning-driver.lock")).symlink_to(target if target.startswith("/") else tmp_path / "outside")
    with pytest.raises(UserError, match=r"\.tuning-driver\.lock: not read \(a link that leads out of the experiment\)"):
        storage.read_text(where(".tuning-driver.lock"))


def test_a_link_inside_the_directory_is_read(where):
    storage.write_text(where("real.json"), "{}")
    _local(where("environment.json")).symlink_to("real.json")
    assert storage.read_text(where("environment.json")) == "{}"


def test_a_node_check_names_a_marker_it_may_not_read(tmp_path):
    """The node check turns any failure into its answer for that node: a refused marker is one too."""
    marker = tmp_path / "m" / "driver"
    marker.parent.mkdir()
    os.mkfifo(marker)
    why = storage._node_check(str(tmp_path), str(marker), "t", "node1")
    assert why == f"UserError: {marker}: not read (a FIFO, not a regular file)"

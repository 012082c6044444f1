"""`tuning init`: a runnable starter project (model, data, sweep, README) in the user's own package.

Templates live in `tuning/templates/<name>/`; the placeholders `__project__` (the folder's name) and
`__package__` (its Python identifier) are filled in, and the folder `package/` becomes the package.
"""

import random
import re
from pathlib import Path

from tuning.errors import UserError

TEMPLATES_DIR = Path(__file__).parents[1] / "templates"


def templates() -> list[str]:
    """Names of the available templates."""
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def package_name(directory: Path) -> str:
    """A valid Python package name from a folder name (`my-project` -> `my_project`)."""
    name = re.sub(r"\W", "_", directory.resolve().name.lower()).strip("_") or "project"
    return f"p_{name}" if name[0].isdigit() else name


def _files(template: str, project: str, package: str) -> dict[Path, str]:
    """Relative path -> rendered text, for every file of the template."""
    root = TEMPLATES_DIR / template
    out = {}
    for source in sorted(root.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = Path(*(package if part == "package" else part for part in source.relative_to(root).parts))
        out[relative] = source.read_text().replace("__project__", project).replace("__package__", package)
    out.update({Path(name): text for name, text in EXAMPLE_DATA.get(template, dict)().items()})
    return out


def example_table(rows: int = 600, features: int = 8, classes: int = 3, seed: int = 0) -> str:
    """A CSV of `classes` Gaussian blobs in `features` dimensions: a learnable stand-in for the user's data."""
    rng = random.Random(seed)
    centres = [[rng.gauss(0, 0.6) for _ in range(features)] for _ in range(classes)]
    lines = [",".join([f"f{i}" for i in range(features)] + ["label"])]
    for row in range(rows):
        label = row % classes
        lines.append(",".join([f"{rng.gauss(c, 1.0):.4f}" for c in centres[label]] + [str(label)]))
    return "\n".join(lines) + "\n"


def example_reviews(rows: int = 1000, seed: int = 0) -> dict[str, str]:
    """Short product reviews labelled positive/negative (a tenth deliberately mislabelled): train and validation
    CSVs."""
    import csv
    import io

    rng = random.Random(seed)
    words = {
        "positive": ["great", "excellent", "love", "perfect", "sturdy", "fast", "comfortable", "recommend"],
        "negative": ["broken", "terrible", "slow", "refund", "flimsy", "disappointed", "waste", "cheap"],
    }
    things = ["battery", "screen", "cable", "shoes", "blender", "jacket", "lamp", "keyboard", "tent", "kettle"]
    filler = ["the", "this", "it", "was", "really", "and", "my", "after", "a", "week", "quite", "so"]
    splits = {"train": io.StringIO(), "validation": io.StringIO()}
    writers = {name: csv.writer(buf) for name, buf in splits.items()}
    for writer in writers.values():
        writer.writerow(["text", "label"])
    for row in range(rows):
        label = rng.choice(sorted(words))
        text = rng.sample(filler, 4) + [rng.choice(things)] + rng.sample(words[label], 2) + rng.sample(filler, 2)
        rng.shuffle(text)
        shown = label if rng.random() > 0.1 else ({"positive": "negative", "negative": "positive"}[label])
        writers["validation" if row % 5 == 0 else "train"].writerow([" ".join(text), shown])
    return {f"data/{name}.csv": buf.getvalue() for name, buf in splits.items()}


# Template -> the example data written with it (relative path -> text).
EXAMPLE_DATA = {"tabular": lambda: {"data/train.csv": example_table()}, "text": example_reviews}


def init_project(directory: str, template: str, force: bool = False) -> list[Path]:
    """Write the template into `directory`; refuse to overwrite existing files unless `force`."""
    if template not in templates():
        raise UserError(f"--template: '{template}' is not a template; available: {', '.join(templates())}")
    if not directory.strip():
        raise UserError(f"DIR {directory!r}: empty; name the project folder (`.` for the current directory)")
    target = Path(directory).expanduser()
    files = _files(template, target.resolve().name, package_name(target))
    _check_folders(directory, target, files)
    existing = [str(target / rel) for rel in files if (target / rel).exists()]
    if existing and not force:
        raise UserError(
            f"{directory}: would overwrite {', '.join(existing)}; nothing was written (pass --force to overwrite)"
        )
    written = []
    for relative, text in files.items():
        path = target / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            done = f"; wrote {len(written)} of {len(files)} files before it" if written else "; nothing was written"
            raise UserError(f"DIR {directory}: cannot write {path}: {exc.strerror or exc}{done}") from None
        written.append(path)
    return written


def _check_folders(directory: str, target: Path, files: dict[Path, str]) -> None:
    """UserError, before anything is written, when DIR or a folder the template needs in it exists as
    something other than a folder (a file, a link to one)."""
    folders = {target} | {target / parent for rel in files for parent in rel.parents if parent != Path(".")}
    for folder in sorted(folders, key=lambda path: len(path.parts)):
        if folder.exists() and not folder.is_dir():
            which = "it" if folder == target else str(folder)
            raise UserError(
                f"DIR {directory}: {which} exists and is not a folder; nothing was written (name a new "
                "or existing folder)"
            )
        if not folder.exists() and folder.is_symlink():
            raise UserError(f"DIR {directory}: {folder} is a link to nothing; nothing was written")
    for ancestor in target.absolute().parents:  # DIR inside a file: `notes.txt/project`
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UserError(f"DIR {directory}: {ancestor} is not a folder; nothing was written")
            break

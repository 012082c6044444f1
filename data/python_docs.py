"""A real text corpus that ships with every Python: standard-library docstrings, labelled by package.

Built from source files with `ast` (nothing is imported, nothing is downloaded) into
train/validation/test CSV files. The split of each docstring is a hash of where it lives, so
the same Python gives the same files on every machine.
"""

import ast
import csv
import sysconfig
import zlib
from pathlib import Path

# Packages present in Python 3.10 to 3.13, each with 100+ docstrings in 3.11.
PACKAGES = (
    "asyncio",
    "email",
    "http",
    "importlib",
    "logging",
    "multiprocessing",
    "tkinter",
    "unittest",
    "urllib",
    "xml",
)
MIN_CHARS, MAX_CHARS = 40, 1000
SPLITS = ("train", "validation", "test")


def docstrings(package_dir: Path):
    """(where, docstring) for every module, class and function docstring under a package, in file order."""
    for path in sorted(package_dir.rglob("*.py")):
        if "test" in path.relative_to(package_dir).parts[:-1] or "tests" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node)
                if text and len(text) >= MIN_CHARS:
                    yield f"{path.relative_to(package_dir.parent)}:{getattr(node, 'name', '')}", text[:MAX_CHARS]


def split_of(where: str) -> str:
    """About 80/10/10, fixed by the docstring's location."""
    bucket = zlib.crc32(where.encode()) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def build_corpus(out_dir: Path, stdlib: str | None = None) -> dict[str, str]:
    """Write train/validation/test CSVs (columns text, label) into `out_dir`; returns split -> path."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    rows = {split: [] for split in SPLITS}
    present = [p for p in PACKAGES if (root / p).is_dir()]
    if len(present) < 4:
        raise ValueError(f"corpus python_docs: only {present} of {list(PACKAGES)} found as source under {root}")
    seen = set()  # copied docstrings (overrides repeating their base's) would leak between splits
    for package in present:
        for where, text in docstrings(root / package):
            if text not in seen:
                seen.add(text)
                rows[split_of(where)].append((text, package))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, split_rows in rows.items():
        files[split] = str(out_dir / f"{split}.csv")
        with open(files[split], "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "label"])
            writer.writerows(split_rows)
    return files

"""A tiny, learnable text set made in the test: sentences whose topic words give away the string label."""

import csv
import random
from pathlib import Path

TOPICS = {
    "cooking": "pan oven salt garlic simmer dough butter pepper bake onion".split(),
    "music": "guitar chord melody drum tempo violin song rhythm piano choir".split(),
    "sports": "goal match referee team score ball coach league sprint racket".split(),
}
FILLER = "the a of and to in we they it was is with on for this that very quite".split()


def sentences(n: int, seed: int) -> list[tuple[str, str]]:
    """n (text, label) rows; about a third of the words are the label's topic words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = sorted(TOPICS)[i % len(TOPICS)]
        words = [rng.choice(TOPICS[label] if rng.random() < 0.35 else FILLER) for _ in range(rng.randint(4, 18))]
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]]) -> str:
    """Write rows as a CSV with columns text and label; returns the path as a string."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def text_files(directory: Path, n_train: int = 90, n_val: int = 30) -> dict[str, str]:
    """train.csv and validation.csv with string labels under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "train": write_csv(directory / "train.csv", sentences(n_train, 0)),
        "validation": write_csv(directory / "validation.csv", sentences(n_val, 1)),
    }

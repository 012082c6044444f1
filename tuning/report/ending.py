"""Which budget or stop rule ended a sweep, and what it spent: read from the experiment's environment.json, where the
driver records it (tuning.driver.budget), for every report format. Nothing is imported or unpickled."""

from tuning.bounded import number
from tuning.expdir import ExpDir
from tuning.sweep.budget import ending_text


def read_ending(exp: ExpDir) -> dict | None:
    """What ended the sweep early, as recorded on its latest run when that run finished; None when it ran its trials
    (or the record is not one the driver wrote: a report of such an experiment shows no ending)."""
    runs = exp.runs()
    last = runs[-1] if runs else {}
    ending = last.get("ended_by") if last.get("outcome") == "finished" else None
    if not isinstance(ending, dict) or not isinstance(ending.get("by"), str):
        return None
    spent = ending.get("spent")
    if not isinstance(spent, dict) or not all(number(v) for v in spent.values()):
        ending = {**ending, "spent": {}}
    return ending


def ending_line(ending: dict) -> str:
    """The ending in one sentence (made inert by each format, as the rest of the experiment's text)."""
    try:
        return ending_text(ending)
    except (TypeError, ValueError, AttributeError):  # a record edited by hand: its kind alone
        return f"sweep ended early: {ending.get('by')}"

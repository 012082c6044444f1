"""The one exception type that means "the user's input is wrong" (exit code 2)."""

import difflib


class UserError(Exception):
    """Bad input: a config key, an argument or a path. The CLI prints it and exits 2."""


def did_you_mean(word: str, choices) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""

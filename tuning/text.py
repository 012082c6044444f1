"""Text from outside made safe to print: control characters shown as escapes, command lines shell-quoted.

Trial ids, error lines, config values, metric names, paths and job metadata come from experiments and
clusters that someone else may have written. Printed raw, an ESC sequence in them clears the screen, sets
the window title or hides a line; a `; touch x` in a path turns a printed command into two. Every place
that prints such text passes it through `inert` (or `inert_lines`), and every command printed for copying
is built by `shell_command`. Standard library only: this module is imported by the lightest commands.
"""

import re
import shlex

# C0 controls (tab and newline too: a cell or a one-line field must stay one line), DEL, C1 controls
# (0x9b is a CSI on terminals that read 8-bit controls), and the bidirectional overrides and isolates that
# make a terminal show text in another order than it is (CVE-2021-42574, "Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def inert(text) -> str:
    """`text` as str with every control character as a visible escape (ESC as `\\x1b`, CR as `\\r`): one line."""
    text = text if isinstance(text, str) else str(text)
    # isprintable is one C loop and true for almost every cell: the report of 10,000 trials pays next to nothing.
    return text if text.isprintable() else _CONTROL.sub(_escape, text)


def inert_lines(text) -> str:
    """inert, keeping newlines and tabs: for a message of several lines."""
    text = text if isinstance(text, str) else str(text)
    return text if text.isprintable() else _CONTROL_BUT_LINES.sub(_escape, text)


def shell_command(*argv) -> str:
    """A command line to copy: each argument shell-quoted (shlex.quote), the whole made inert.

    `shlex.split` of the result gives `argv` back, unless an argument holds a control character: that shows
    as its escape, visible rather than run."""
    return inert(" ".join(shlex.quote(str(arg)) for arg in argv))

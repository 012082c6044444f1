"""What the registries share (searchers, samplers, schedulers, report formats): naming the entries that can do a thing.

A message that refuses a combination says what would work, from the entries' capabilities, so a new entry
shows up in every such message without the message being edited.
"""


def names_with(registry: dict, **capabilities) -> list[str]:
    """The names of the entries whose capabilities have these values, in the registry's order."""
    return [
        name
        for name, entry in registry.items()
        if all(getattr(entry, key) == value for key, value in capabilities.items())
    ]


def either(names) -> str:
    """Names as a message offers them: `a`, `a or b`, `a, b or c`."""
    names = list(names)
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"

"""One error type for bad input, so CLIs can print it as one line and exit 2."""


class InterpError(ValueError):
    """A problem with what the caller asked for (unknown model, layer out of range, ...).

    >>> try:
    ...     hook_names(model, "bogus")
    ... except InterpError as e:
    ...     print("refused")
    refused
    """

"""`StopForward`: raised inside a hook once a forward has given everything asked of it.

Capture stops once every requested hook has fired; patching and the causal tests stop at the
unembedding input. Stopping skips the later layers and the full-vocabulary unembedding.
"""


class StopForward(Exception):
    """Raised in a hook to end a forward early; the caller catches it and keeps what the hooks stored."""

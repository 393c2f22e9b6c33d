"""Long context: per-token NLL through the plain model, and activation statistics along the context."""

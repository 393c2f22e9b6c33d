"""Hooks: reading activations out of a model (`capture`, `record`)."""

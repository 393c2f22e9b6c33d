"""Interventions: writing activations (`intervene`), the logit lens, activation patching (sublayer grid,
per-head, attribution patching and its checks), and causal tests of probe directions."""

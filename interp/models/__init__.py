"""Models and loading: the built-in weights, `load_model`, devices, the offline switches, KV-cache continuation,
the model's own greedy answers, and the arith-toy adder."""

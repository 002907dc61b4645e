"""PyTorch versions of genbox's models and training steps, for `scripts/bench` and the oracle tests.

Each module (nice, dit, detr) mirrors one experiment: `build(options)` makes the model with the
state-dict names genbox uses, `oracle(case)` evaluates a genbox-exported case, `bench(threads,
steps, options)` times the step the way `<exp> bench` does.
"""

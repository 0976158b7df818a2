"""Routers: decide per query whether to think and how much, from the target model's own outcomes.

- `router.py`: the Router (load / save / decide), its files and the model fingerprint check;
- `features.py`: hidden-state and character n-gram features;
- `linear.py`: the logistic regression they use.

`thinkgate calibrate`, which trains them from the model's outcomes, is a driver (`thinkgate/bench/calibrate.py`);
the routing curves (accuracy vs think rate against the oracle, APGR) are scoring (`thinkgate/scoring/curve.py`).

Nothing is loaded at import time; the `route` strategy loads a router on first use.
"""

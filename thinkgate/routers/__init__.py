"""Routers: decide per query whether to think and how much, from the target model's own outcomes.

- `router.py`: the Router (load / save / decide), its files and the model fingerprint check;
- `features.py`: hidden-state and character n-gram features;
- `linear.py`: the logistic regression they use;
- `calibrate.py`: `thinkgate calibrate` (outcomes on the calibration split -> routers + thresholds);
- `curve.py`: accuracy vs think rate against the oracle (APGR).

Nothing is loaded at import time; the `auto` strategy loads a router on first use.
"""

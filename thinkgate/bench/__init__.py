"""Evaluation drivers, above the gate: the bench runner (`Gate.run_batch` over task suites, every (item,
sample) scored and cached), its report, the LLM judge, and `thinkgate calibrate`. What they compute from rows
is in `thinkgate/scoring/`."""

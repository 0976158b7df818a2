"""Scoring, below the gate: per-item rows and their metrics (OptimalThinkingBench's AUC_OAA, Acc_ut, F1_otb;
the oracle; frontiers), routing curves (APGR), and the append-only cache rows are kept in. Pure functions of
rows; the drivers that produce rows (`thinkgate/bench/`) sit above the gate."""

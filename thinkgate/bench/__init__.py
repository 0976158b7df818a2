"""The bench: a loop over `Gate.run_batch` on task suites, scored per sample."""

"""The run machinery shared by every experiment: run directories, the training loop, metrics,
checkpoints, summaries, sweeps and the catalogue of past runs."""

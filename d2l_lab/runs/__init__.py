"""The run machinery shared by every experiment: run directories, the training loop (which
publishes events and returns a result; it prints nothing), metrics, checkpoints, summaries,
sweeps and the catalogue of past runs. It knows no experiment: callers pass in what it needs."""

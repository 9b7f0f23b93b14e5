"""The `d2l` command line (typer): one module per command group; heavy imports happen inside
commands so that `--help` never loads torch."""

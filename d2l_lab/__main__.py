"""`python -m d2l_lab ...`: the `d2l` command without relying on the console script being on PATH."""

from d2l_lab.cli.main import main

main()

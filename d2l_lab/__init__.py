"""d2l-lab: a command-line experiment runner for the optimization and word-embedding chapters
of *Dive into Deep Learning*."""

__version__ = "0.1.0"

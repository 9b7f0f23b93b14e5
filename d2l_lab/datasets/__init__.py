"""Bundled, offline, checksummed data: airfoil (`airfoil`), PTB and user corpora (`corpus`) and
the embedding evaluation sets (`evalsets`). Nothing is downloaded; every bundled file is verified
by sha1 when read. Import the submodules directly: only `airfoil` needs torch, and text tools
(`d2l bpe`, `d2l embed`) should not pay for it."""

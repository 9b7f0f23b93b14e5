"""`d2l run glove`: global vectors from sparse co-occurrence counts (book 15.5)."""

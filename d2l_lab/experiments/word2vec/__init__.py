"""`d2l run word2vec`: skip-gram and CBOW with negative sampling (book 15.1-15.4)."""

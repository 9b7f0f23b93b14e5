"""`d2l run fasttext`: skip-gram over subword (character n-gram) vectors (book 15.6)."""

"""Word embeddings from scratch: vocabulary and sampling, word2vec, GloVe, fastText subwords, BPE,
word-vector files, queries and intrinsic evaluation."""

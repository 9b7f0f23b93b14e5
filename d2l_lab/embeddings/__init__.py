"""Word embeddings from scratch: vocabulary and sampling, the book's word2vec model (`reference`)
and its fast engine, GloVe, fastText subwords, BPE, word-vector files, queries and intrinsic
evaluation."""

"""fastText: its settings (`config`, torch-free) and its trainer, word2vec's skip-gram over subword vectors (`trainer`)."""

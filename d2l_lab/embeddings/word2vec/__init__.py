"""Word2vec: its settings (`config`, torch-free), the trainer that runs them on the epoch engine
(`trainer`), how a chunk's examples are laid out (`examples`) and the losses it can train
(`objectives`, the only list, and one module each)."""

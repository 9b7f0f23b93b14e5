"""GloVe: its settings (`config`, torch-free) and its trainer on the epoch engine (`trainer`)."""

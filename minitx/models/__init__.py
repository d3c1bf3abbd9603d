"""The two model families: GPT (causal decoder) and BERT (bidirectional encoder)."""

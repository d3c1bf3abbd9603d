"""How large a model is, from its config alone, before any array is allocated: its
parameter count and the memory training it takes at least. The command line checks
these against the memory free before it builds a model (minitx/cli/limits.py)."""

FLOAT32 = 4   # bytes


def gpt_num_parameters(c):
    """GPT(c).num_parameters(), counted from the config (tests/test_cli_limits.py checks it)."""
    C, V, H, b = c.n_embd, c.vocab_size, c.n_inner or 4 * c.n_embd, int(c.bias)
    norm = C * (1 + b)                                   # LayerNorm weight (and bias)
    block = (2 * norm + C * 3 * C + 3 * C * b + C * C + C * b   # ln_1, ln_2, c_attn, attention's c_proj
             + C * H + H * b + H * C + C * b)                   # the MLP's c_fc and c_proj
    positions = c.block_size * C if c.position == "learned" else 0
    return V * C + positions + c.n_layer * block + norm + (0 if c.tie_word_embeddings else V * C)


def bert_pretraining_num_parameters(c):
    """BertForPreTraining(c).num_parameters(), counted from the config."""
    C, I, V = c.hidden_size, c.intermediate_size, c.vocab_size
    embeddings = (V + c.max_position_embeddings + c.type_vocab_size) * C + 2 * C
    layer = 4 * (C * C + C) + 2 * C + C * I + I + I * C + C + 2 * C   # q, k, v, dense, LN; MLP, LN
    pooler = C * C + C
    heads = C * C + C + 2 * C + V + (0 if c.tie_word_embeddings else V * C) + 2 * C + 2   # MLM, NSP
    return embeddings + c.num_hidden_layers * layer + pooler + heads


def training_bytes(num_parameters, B, T, n_layer, C, hidden, NH, V):
    """The bytes training takes at least (float32): weights, their gradients and AdamW's two
    moments (4 per parameter), and the activations a step keeps for backward: per layer
    and token about 10 C for the norms, q, k, v, attention output, projections and
    residuals, 2 hidden for the MLP and NH T attention probabilities; the logits and
    their gradient (2 V per token)."""
    activations = B * T * (n_layer * (10 * C + 2 * hidden + NH * T) + 2 * V)
    return FLOAT32 * (4 * num_parameters + activations)

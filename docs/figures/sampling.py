"""One real next-token distribution, that of a tiny character GPT after the prompt
"The if statement is ", under three temperatures and under top-k and top-p."""
from _common import output_path, tiny_gpt

import numpy as np

from minitx import no_grad
from minitx.viz import sampling_distributions

PROMPT = "The if statement is "

if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    model, tokenizer = tiny_gpt()
    with no_grad():
        logits = model(np.array([tokenizer.encode(PROMPT)]), last_only=True).logits.data[0, -1]  # (V,)
    tokens = [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]
    sampling_distributions(logits, tokens, temperatures=(0.5, 1.0, 2.0), top_k=(5, 20), top_p=(0.5, 0.9),
                           path=path, shown=20)
    print(path)

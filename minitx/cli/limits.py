"""Checks of a run against the limits it will meet, made before any expensive work:
answers that --max-length cuts off, a model larger than the memory it would train in."""
from .app import CLIError, note


def check_answers_fit(args, train_f, val_f):
    """QA fine-tuning: an answer past --max-length gets the position max_length, which the
    loss ignores. All of a split cut off would train (or validate) on nothing, "loss
    0.0000", and export that as best: refused. Some cut off: one warning line."""
    T = args.max_length
    counts = {split: (int((f.inputs["start_positions"] >= T).sum()), len(f.inputs["start_positions"]))
              for split, f in (("training", train_f), ("validation", val_f))}
    for split, (cut, total) in counts.items():
        if cut == total:
            raise CLIError(f"--max-length {T}: every {split} answer ({total} of {total}) lies past it, "
                           f"so the run would learn nothing; raise --max-length or shorten the contexts")
    cut = {split: c for split, c in counts.items() if c[0]}
    if cut:
        said = " and ".join(f"{c} of {n} {split}" for split, (c, n) in cut.items())
        note(f"minitx: warning: --max-length {T}: {said} answers lie past it and are ignored")


def available_memory():
    """Bytes of memory this process can still take, or None when unknown: MemAvailable
    (/proc/meminfo: free memory and what the kernel can reclaim), less where a cgroup
    (a container, a Slurm job) caps the process lower."""
    import os
    found = []
    try:
        with open("/proc/meminfo") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f, open("/sys/fs/cgroup/memory.current") as g:
            limit = f.read().strip()
            if limit != "max":
                found.append(int(limit) - int(g.read().strip()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _gib(n):
    return f"{n / 2 ** 30:,.1f} GiB"


def check_memory(what, num_parameters, need, hint):
    """Refuse, before a single array of the model is allocated, a model whose training
    needs more memory than is available (it would be killed with no word, or fail in
    numpy's allocator). what: the model in words; need: training_bytes(...)."""
    free = available_memory()
    if free is not None and need > free:
        raise CLIError(f"{what}: {num_parameters:,} parameters take at least {_gib(need)} to train, more than "
                       f"the {_gib(free)} of memory available; {hint}")


def check_gpt_memory(config, cfg, T):
    """check_memory for a GPT of `config` trained on batches of cfg.batch_size x T tokens."""
    from ..models.size import gpt_num_parameters, training_bytes
    c, n = config, gpt_num_parameters(config)
    need = training_bytes(n, cfg.batch_size, T, c.n_layer, c.n_embd, c.n_inner or 4 * c.n_embd, c.n_head,
                          c.vocab_size)
    check_memory(f"GPT n_layer {c.n_layer}, n_head {c.n_head}, n_embd {c.n_embd}", n, need,
                 "choose a smaller --n-embd, --n-layer, --block-size or --batch-size")


def check_bert_memory(config, cfg):
    """check_memory for BERT pretraining of `config` on batches of cfg.batch_size pairs."""
    from ..models.size import bert_pretraining_num_parameters, training_bytes
    c, n = config, bert_pretraining_num_parameters(config)
    need = training_bytes(n, cfg.batch_size, c.max_position_embeddings, c.num_hidden_layers, c.hidden_size,
                          c.intermediate_size, c.num_attention_heads, c.vocab_size)
    check_memory(f"BERT {c.num_hidden_layers} layers, {c.hidden_size} channels", n, need,
                 "choose a smaller --hidden-size, --num-hidden-layers, --intermediate-size, --max-length "
                 "or --batch-size")

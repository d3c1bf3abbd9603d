"""`minitx export RUN OUT`: a run as a Hugging Face folder that transformers' Auto classes
load with its tokenizer: AutoModelForCausalLM (a GPT run), AutoModelForMaskedLM,
AutoModelForSequenceClassification, ... (a BERT run, by its head), and AutoTokenizer."""
import os

from .app import CLIError, note


def add_export(commands):
    p = commands.add_parser("export", help="write a run as a Hugging Face folder (model, tokenizer, configs)",
                            description="Write a run's model and tokenizer as a Hugging Face folder that "
                                        "transformers loads: config.json, model.safetensors, the tokenizer's "
                                        "files and tokenizer_config.json (and generation_config.json for a GPT).")
    p.add_argument("source", metavar="RUN", help="a training --out folder (its best/, else last/) or a checkpoint")
    p.add_argument("out", metavar="OUT", help="the folder to write (new, or empty)")
    p.set_defaults(run=export)


def export(args):
    from ..training.checkpoint import build_model, find_checkpoint, load_checkpoint
    if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)):
        raise CLIError(f"{args.out}: exists and is not an empty folder; choose a new one")
    ckpt = load_checkpoint(find_checkpoint(args.source))
    if ckpt.tokenizer is None:
        raise CLIError(f"{ckpt.path}: holds no tokenizer to export")
    kind = ckpt.config.get("model_type")
    model = build_model(ckpt)
    if kind == "gpt":
        from ..models.gpt.hf import export_hf, layout_refuses
        refused = layout_refuses(model.config)
        if refused:
            raise CLIError(f"{ckpt.path}: {refused}; transformers' GPT-2 could not load it")
    else:
        from ..models.bert import export_hf
    export_hf(model, ckpt.tokenizer, args.out)
    note(f"{ckpt.path}: a {kind} run, written to {args.out} ({type(model).__name__})")
    return 0

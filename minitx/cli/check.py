"""`minitx check --model FOLDER [--reference HF_FOLDER]`: the invariants minitx's own
tests hold its models to, run on a model of yours; a table, exit 0 only if all hold."""
import os

from .app import CLIError


def add_check(commands):
    p = commands.add_parser(
        "check", help="check a model's invariants (KV cache, padding, batching, threads, twins, save/load)",
        description="Run minitx's invariants on a model: KV-cache decoding equals recomputation "
                    "(GPT); padding leaves the unpadded positions alone (BERT); a row of a batch "
                    "equals that row alone; 1 thread equals 2, bit for bit; the Numba kernels "
                    "equal their NumPy twins; save and load round-trip bit-exactly; with "
                    "--reference, no module diverges from transformers. Exit 0 only if all hold.")
    p.add_argument("--model", required=True, metavar="FOLDER",
                   help="a checkpoint (a run folder, or its best/ or last/) or a Hugging Face "
                        "GPT-2 or BERT folder")
    p.add_argument("--reference", metavar="HF_FOLDER",
                   help="a Hugging Face folder to compare with, module by module (needs transformers)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random token ids checked")
    p.set_defaults(run=check)


def load_any(folder):
    """The model in a checkpoint folder, or in a Hugging Face GPT-2 or BERT folder."""
    from ..models import hub
    from ..training.checkpoint import build_model, find_checkpoint, load_checkpoint
    if not os.path.isdir(folder):
        raise CLIError(f"{folder}: no such folder")
    if os.path.exists(os.path.join(folder, hub.CONFIG)) and os.path.exists(os.path.join(folder, hub.WEIGHTS)):
        kind = hub.read_config(folder).get("model_type")
        if kind == "gpt2":
            from ..models.gpt import GPT
            return GPT.from_pretrained(folder)
        if kind == "bert":
            from ..models.bert import BertModel
            return BertModel.from_pretrained(folder)
    return build_model(load_checkpoint(find_checkpoint(folder)))


def check(args):
    from ..testing.invariants import check_model
    model = load_any(args.model)
    if args.reference is not None and not os.path.isdir(args.reference):
        raise CLIError(f"{args.reference}: no such folder")
    results = check_model(model, reference=args.reference, seed=args.seed)
    width = max(len(r.name) for r in results)
    print(f"{'invariant':{width}s}  result  figure")
    for r in results:
        print(f"{r.name:{width}s}  {r.status:6s}  {r.figure}")
    failed = [r for r in results if not r.ok]
    print(f"{type(model).__name__} from {args.model}: "
          + (f"{len(failed)} of {len(results)} invariants failed" if failed else "all invariants hold"))
    return 1 if failed else 0

"""model_type -> (model class, config class): how a saved config.json names the model
to rebuild. Checkpoints and the command line look classes up here, so they never
import a model family themselves."""


def model_types():
    """{model_type: (model class, config class)} of every family."""
    from .bert import MODEL_TYPES as BERT_TYPES
    from .bert import BertConfig
    from .gpt import GPT, GPTConfig
    return {"gpt": (GPT, GPTConfig), **{kind: (cls, BertConfig) for kind, cls in BERT_TYPES.items()}}


def lookup(model_type):
    """(model class, config class) of `model_type`; KeyError naming the known ones."""
    types = model_types()
    if model_type not in types:
        raise KeyError(f"unknown model_type {model_type!r} (known: {', '.join(types)})")
    return types[model_type]

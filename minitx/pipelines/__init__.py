"""Pipelines: load a model, give it text, get labels, entities, answers, text or
vectors back, with the call signatures, outputs and key names of transformers'
pipelines. See docs/pipelines.md.

    from minitx import pipeline
    pipe = pipeline("fill-mask", model="runs/bert")
    pipe("The capital of France is [MASK].")
"""
from .base import Pipeline, load_bert
from .classify import TextClassificationPipeline
from .embed import FeatureExtractionPipeline
from .fill_mask import FillMaskPipeline
from .generate import TextGenerationPipeline
from .qa import QuestionAnsweringPipeline
from .tag import TokenClassificationPipeline
from .zero_shot import ZeroShotClassificationPipeline

TASKS = {p.task: p for p in (FillMaskPipeline, TextClassificationPipeline, TokenClassificationPipeline,
                             QuestionAnsweringPipeline, TextGenerationPipeline, FeatureExtractionPipeline,
                             ZeroShotClassificationPipeline)}
# transformers' other names for the same tasks
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification",
           "embeddings": "feature-extraction"}


def pipeline(task, model, **options):
    """The pipeline for `task` on `model`: a Hugging Face folder or a minitx checkpoint
    (or training --out folder) whose head fits the task. options: batch_size, and
    defaults for each call (top_k, aggregation_strategy, doc_stride, ...)."""
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise ValueError(f"unknown task {task!r} (known: {', '.join([*TASKS, *ALIASES])})")
    if model is None:
        raise ValueError(f"{task}: give model= a folder (nothing is downloaded)")
    return TASKS[name].load(model, **options)


__all__ = ["ALIASES", "TASKS", "FeatureExtractionPipeline", "FillMaskPipeline", "Pipeline",
           "QuestionAnsweringPipeline", "TextClassificationPipeline", "TextGenerationPipeline",
           "TokenClassificationPipeline", "ZeroShotClassificationPipeline", "load_bert", "pipeline"]

"""BERT: config, encoder, heads, and Hugging Face folders in and out."""
from .config import BertConfig
from .heads import (
                    MODEL_TYPES,
                    BertForMaskedLM,
                    BertForPreTraining,
                    BertForQuestionAnswering,
                    BertForSequenceClassification,
                    BertForTokenClassification,
)
from .hf import export_hf, hf_tokenizer
from .model import BertModel, BertPreTrainedModel, mean_pool

__all__ = ["MODEL_TYPES", "BertConfig", "BertForMaskedLM", "BertForPreTraining", "BertForQuestionAnswering",
           "BertForSequenceClassification", "BertForTokenClassification", "BertModel", "BertPreTrainedModel",
           "export_hf", "hf_tokenizer", "mean_pool"]

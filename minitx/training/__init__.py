"""Training: the Trainer loop, checkpoints, task metrics and the loss chart.
Above the models in the flow: nothing in minitx's core imports this package."""
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .trainer import TrainConfig, Trainer, TrainingDiverged

__all__ = ["Checkpoint", "CheckpointError", "TrainConfig", "Trainer", "TrainingDiverged", "load_checkpoint",
           "save_checkpoint"]

"""Training of the learned JSCC models: configs, the loop (checkpoints, resume, progress), the
training data (random crops of photos that are not test photos) and the evaluation that records
each checkpoint's metric. Entry point: ``semcom train <model> --config configs/<model>.json``
(:mod:`semcom.experiments.train`)."""

from semcom.training.loop import LossConfig, TrainConfig, evaluate, jscc_loss, reevaluate, train

__all__ = ["TrainConfig", "LossConfig", "train", "evaluate", "jscc_loss", "reevaluate"]

"""Training of the learned JSCC models: configs, the loop (checkpoints, resume, progress), the
training data (random crops of photos that are not test photos) and the evaluation that records
each checkpoint's metric. Entry point: ``semcom train <model> --config configs/<model>.json``
(:mod:`semcom.experiments.train`). Execution at scale: :mod:`semcom.training.runtime` (device,
compile, workers), :mod:`semcom.training.precision` (bf16/fp16 autocast) and
:mod:`semcom.training.distributed` (DistributedDataParallel under torchrun)."""

from semcom.training.loop import LossConfig, TrainConfig, evaluate, evaluate_snrs, jscc_loss, reevaluate, train
from semcom.training.runtime import RunOptions

__all__ = ["TrainConfig", "LossConfig", "RunOptions", "train", "evaluate", "evaluate_snrs", "jscc_loss", "reevaluate"]

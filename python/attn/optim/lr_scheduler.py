"""attn.optim.lr_scheduler: StepLR, CosineAnnealingLR, LinearLR, LambdaLR, NoamLR
(attn/optim/lr_scheduler.h), as torch.optim.lr_scheduler. Call step() after optimizer.step()."""
from .._attn.optim import lr_scheduler as _S

LRScheduler = _S.LRScheduler
StepLR = _S.StepLR
CosineAnnealingLR = _S.CosineAnnealingLR
LinearLR = _S.LinearLR
LambdaLR = _S.LambdaLR
NoamLR = _S.NoamLR

"""attn.nn.utils: gradient clipping (attn/optim/clip_grad.h), as torch.nn.utils."""
from .._attn.optim import clip_grad_norm_, clip_grad_value_  # noqa: F401

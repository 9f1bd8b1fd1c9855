"""attn.nn.functional: the same functions as attn.functional (torch.nn.functional's spelling)."""
from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401

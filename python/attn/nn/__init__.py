"""attn.nn: layers as in torch.nn. Module is the C++ nn::Module; see modules.py."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import utils  # noqa: F401
from .modules import *  # noqa: F401,F403

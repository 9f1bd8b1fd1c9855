"""attn.optim: SGD, Adam, AdamW and learning-rate schedulers (include/attn/optim/), as torch.optim.

    opt = attn.optim.AdamW(model.parameters(), lr=1e-3)
    sched = attn.optim.lr_scheduler.StepLR(opt, step_size=10)
    opt.param_groups[0]["lr"] = 0.01          # live view of the C++ optimizer's groups
"""
from .. import _attn
from . import lr_scheduler  # noqa: F401

_C = _attn.optim
Optimizer = _C.Optimizer
SGD = _C.SGD
Adam = _C.Adam
AdamW = _C.AdamW


class _ParamGroup:
    """A dict-like live view of one param group: reads and writes go to the C++ optimizer."""

    def __init__(self, opt, index):
        self._opt = opt
        self._index = index

    def _options(self):
        return self._opt._group_options(self._index)

    def __getitem__(self, key):
        if key == "params":
            return self._opt._group_params(self._index)
        return self._options()[key]

    def __setitem__(self, key, value):
        if key == "params":
            raise KeyError("the params of a param group cannot be replaced")
        self._opt._set_group_option(self._index, key, value)

    def __contains__(self, key):
        return key == "params" or key in self._options()

    def keys(self):
        return ["params", *self._options().keys()]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __repr__(self):
        return repr({k: (f"<{len(self['params'])} tensors>" if k == "params" else self[k]) for k in self.keys()})


def _param_groups(self):
    return [_ParamGroup(self, g) for g in range(self._num_param_groups())]


Optimizer.param_groups = property(_param_groups)

"""The `Optimizer` base class: parameter groups, per-parameter state, zero_grad, and
state_dict / load_state_dict in PyTorch's format.

Concrete optimizers (sgd.py, adam.py, ...) implement `step` by calling one fused backend
primitive per parameter (`p._backend.sgd_step(...)` etc., minidl/backend/cpu/optim.py and
minidl/cuda/kernels/optim.py), which updates the parameter and its state arrays in place on the
parameter's device.  What does not live here: the update math (the backends) and learning-rate
schedules (lr_scheduler.py).
"""
from __future__ import annotations

import copy
import warnings
from itertools import chain
from typing import Any, Callable, Iterable

from .._grads import zero_grads
from ..autograd import enable_grad
from ..errors import DeviceError
from ..tensor import Tensor


class _RequiredParameter:
    """Singleton marking an option a parameter group must give (no default)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _raw(t: Tensor):
    """The backend array behind a tensor (the optimizer works on raw storage, in place)."""
    return t._data


def _bump_version(t: Tensor) -> None:
    # an optimizer step is an in-place update: graphs that saved the old value must notice, and
    # views of the parameter must see it (Tensor._bump)
    t._bump()


def _check_grad(p: Tensor, g: Tensor) -> None:
    if g.device != p.device:
        raise DeviceError(f"optimizer: parameter on {p.device} has its gradient on {g.device}")
    if tuple(g.shape) != tuple(p.shape):
        raise ValueError(f"optimizer: parameter of shape {list(p.shape)} has a gradient of shape "
                         f"{list(g.shape)}")


class Optimizer:
    """Base class of all optimizers (PyTorch's `torch.optim.Optimizer`).

    params: an iterable of Tensors, or of dicts defining parameter groups (a dict's "params"
    plus any per-group option overriding `defaults`).
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        self._opt_called = False
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_typename(params)}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups ---------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with optional per-group options) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_typename(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use "
                            "a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None by default, like PyTorch)."""
        zero_grads(chain.from_iterable(g["params"] for g in self.param_groups), set_to_none)

    def step(self, closure: Callable | None = None):
        """Perform one optimization step; `closure` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    @staticmethod
    def _eval_closure(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict):
        """(param, grad) pairs of a group whose gradient exists, validated."""
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            _check_grad(p, g)
            yield p, g

    # ---- checkpointing --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [{options..., "params": [indices]}]}.

        Parameters are numbered in group order, as in PyTorch.  State tensors are copies (a
        snapshot: training on does not change a state dict already taken)."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) not in index:
                continue
            state[index[id(p)]] = {k: (v.detach().clone() if isinstance(v, Tensor)
                                       else copy.deepcopy(v)) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state from `state_dict()` output (tensors are copied onto each
        parameter's device and, for floating state, its dtype)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             "size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        new_state: dict = {}
        for k, v in state_dict["state"].items():
            key = int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k
            if key not in id_map:
                continue
            param = id_map[key]
            new_state[param] = {name: self._cast_state(param, name, val) for name, val in v.items()}
        self.state = new_state
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            new_groups.append(saved)
        self.param_groups = new_groups

    @staticmethod
    def _cast_state(param: Tensor, name: str, value):
        if isinstance(value, Tensor):
            if name == "step":
                return value.detach().clone()
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"loaded optimizer state '{name}' has shape {list(value.shape)} "
                                 f"but its parameter has shape {list(param.shape)}")
            out = value.detach()
            if out.dtype.is_floating_point and out.dtype != param.dtype:
                out = out.to(param.dtype)
            if out.device != param.device:
                out = out.to(param.device)
            return out.clone().contiguous()
        if hasattr(value, "shape") and hasattr(value, "dtype") and name != "step":
            # a numpy array (e.g. read back from a file)
            from ..creation import tensor as _tensor

            return _tensor(value, dtype=param.dtype, device=param.device)
        return copy.deepcopy(value)

    # ---- misc -----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        # like PyTorch: not the step wrapper a scheduler may have installed on the instance
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._opt_called = False

"""Reverse-mode autodiff: `Function` (forward + backward once), graph nodes, the backward engine,
and grad mode (`no_grad`, `enable_grad`).

The graph is dynamic: `Function.apply` records one node per call, whose `next_functions` point at
the nodes of its inputs (an `AccumulateGrad` for leaves).  `backward` orders nodes by an iterative
dependency count (no recursion, so 10,000-op chains are fine) and frees each node's saved tensors
once it has run unless `retain_graph=True`.
"""
from __future__ import annotations

import functools
import threading
import types
import weakref

from .device import backend_for
from .errors import DeviceError

class _State(threading.local):
    enabled = True  # per thread; a class default, so reading it is one attribute lookup


_state = _State()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad` (or `set_grad_enabled(False)`) on this thread."""
    return _state.enabled


def _set_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradMode:
    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _set_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record no graph."""

    _mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: turn grad mode back on inside `no_grad`."""

    _mode = True


class set_grad_enabled(_GradMode):
    """`with set_grad_enabled(False): ...`; also usable as a plain call."""

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        _set_enabled(self._mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        mode = self._mode
        _set_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


_EMPTY = types.MappingProxyType({})


def _mutable(node, name: str) -> dict:
    """node's `_hooks` or `_retained` dict, made its own on first write."""
    d = getattr(node, name)
    if d is _EMPTY:
        d = {}
        setattr(node, name, d)
    return d


class Node:
    """One recorded call of a Function; also the `ctx` its forward and backward receive."""

    # Defaults read through the class: a call sets only what differs (one Node per op call).
    next_functions: tuple = ()
    needs_input_grad: tuple = ()
    materialize_grads = True
    _saved: list | None = None
    _freed = False
    _record = True      # False: the call records no graph, nothing reads the saved tensors back
    _non_diff: tuple = ()  # outputs marked non-differentiable (compared by identity)
    _in_meta: tuple = ()   # per input: (shape, dtype, device) of a tensor, None otherwise
    _out_meta: tuple = ()  # per output: (shape, dtype, device) of a tensor, None otherwise
    _pending = None        # an Op's forward saved arrays; Op.apply resolves them to tensors
    # output_nr -> [hook(grad) -> grad | None], and output_nr -> weakref to a non-leaf tensor
    # that retains grad: few nodes have either, so both start as one shared empty mapping
    # (writers go through _mutable())
    _hooks = _EMPTY
    _retained = _EMPTY

    def __init__(self, fn_cls):
        self._fn = fn_cls

    def name(self) -> str:
        """The node's display name, e.g. "MulBackward0"."""
        return getattr(self, "_name", None) or f"{self._fn.__name__}Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    # ---- ctx API ----
    def save_for_backward(self, *tensors) -> None:
        """Save tensors for backward (read back as `saved_tensors`); in-place changes to them are
        detected."""
        if self._pending is not None:  # inside an Op's forward: arrays, resolved after it returns
            self._pending = tensors
            return
        if not self._record:  # no graph: no alias, and no old-value copy for an in-place op
            self._saved = [None if t is None else (t, t._version.value) for t in tensors]
            return
        saved = []
        for t in tensors:
            if t is None:
                saved.append(None)
                continue
            a = t._alias()
            ver = t._version
            if ver.saved is not None:  # the snapshot of an in-place op's input (Tensor._inplace)
                ver.saved.append(a)
            saved.append((a, ver.value))
        self._saved = saved

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to save_for_backward; RuntimeError if freed or modified in place
        since."""
        if self._freed:
            raise RuntimeError(_FREED)
        out = []
        for i, entry in enumerate(self._saved or ()):
            if entry is None:
                out.append(None)
                continue
            t, ver = entry
            if t._version.value != ver:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t._type_name()} {list(t.shape)}], which is saved tensor "
                    f"{i} of {self.name()}, is at version {t._version.value}; expected version "
                    f"{ver} instead.")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors) -> None:
        """Mark outputs of forward that get no gradient (e.g. indices)."""
        self._non_diff = self._non_diff + tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With True (the default), None output gradients reach backward as zeros."""
        self.materialize_grads = bool(value)

    # ---- engine ----
    def _release(self) -> None:
        self._saved = None
        self._freed = True
        d = self.__dict__
        for k in [k for k in d if k[0] != "_" and k not in _KEEP]:
            del d[k]  # attributes a user's forward stored on ctx

    def _apply(self, grads: list) -> tuple:
        if self._freed:
            raise RuntimeError(_FREED)
        if self.materialize_grads:
            for i, g in enumerate(grads):
                if g is None:
                    shape, dt, dev = self._out_meta[i]
                    grads[i] = _Tensor._wrap(backend_for(dev).full(shape, 0, dt.np), dev)
        st = _state
        prev = st.enabled
        st.enabled = False
        try:
            res = self._fn.backward(self, *grads)
        finally:
            st.enabled = prev
        if type(res) is not tuple:
            res = (res,)
        n_in = len(self._in_meta)
        if len(res) < n_in:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(res)})")
        res = res[:n_in] if all(r is None for r in res[n_in:]) else res
        if len(res) != n_in:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(res)})")
        T = _Tensor
        for i, (g, meta) in enumerate(zip(res, self._in_meta)):
            if g is None or meta is None:
                continue
            if not isinstance(g, T):  # an Op's backward may return backend arrays
                g = T._wrap(g, meta[2])
                res = res[:i] + (g,) + res[i + 1:]
            if g._data.shape != meta[0]:
                raise RuntimeError(f"Function {self.name()} returned an invalid gradient at index "
                                   f"{i} "
                                   f"- got {list(g.shape)} but expected shape compatible with "
                                   f"{list(meta[0])}")
            if g._dtype is not meta[1]:  # e.g. a float64 gradient for a float32 input
                res = tuple(r.to(m[1]) if (r is not None and m is not None and r._dtype is not m[1])
                            else r for r, m in zip(res, self._in_meta))
                break
        return res


_KEEP = frozenset(("next_functions", "needs_input_grad", "materialize_grads"))


class RemovableHandle:
    """What register_hook returns: remove() unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        """Unregister the hook (a no-op when already removed)."""
        for i, h in enumerate(self._hooks):
            if h is self._hook:
                del self._hooks[i]
                return


class AccumulateGrad:
    """The node of a leaf tensor: adds the incoming gradient into `.grad`."""

    __slots__ = ("_var", "next_functions", "_hooks", "__weakref__")
    _out_meta = (None,)  # one gradient slot, like a one-output Node (the engine's buffers)

    def __init__(self, var):
        self._var = weakref.ref(var)
        self.next_functions = ()
        self._hooks: dict = {}

    @property
    def variable(self):
        """The leaf tensor this node accumulates into (None once it is freed)."""
        return self._var()

    def name(self) -> str:
        """"AccumulateGrad"."""
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


_Tensor = None  # minidl.tensor.Tensor, set by minidl.tensor (which imports this module)


def _edge(t):
    if t._grad_fn is not None:
        return (t._grad_fn, t._output_nr)
    return (t._accumulator(), 0)


class Function:
    """Base of differentiable functions, PyTorch's API.

    Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)` and call
    `MyFn.apply(*args)`.  forward runs without recording a graph; backward returns one gradient
    (or None) per forward argument.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the outputs from `args`, saving on `ctx` what backward needs (no graph is
        recorded)."""
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Given the gradient of each output, return one gradient (or None) per forward argument."""
        raise NotImplementedError("You must implement the backward function for custom "
                                  "autograd.Function.")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward and, when an input requires grad under grad mode, record a graph node for
        backward."""
        # The per-op hot path: one pass over args, no per-call imports, grad mode read once.
        T = _Tensor
        ctx = Node(cls)
        needs = []
        for a in args:
            # a view's requires_grad may have to follow its base's in-place history (property)
            needs.append(isinstance(a, T) and (a._requires_grad if a._base is None
                                               else a.requires_grad))
        needs = ctx.needs_input_grad = tuple(needs)
        st = _state
        enabled = st.enabled
        record = enabled and True in needs
        if not record:
            ctx._record = False
        if enabled:
            st.enabled = False
            try:
                out = cls.forward(ctx, *args, **kwargs)
            finally:
                st.enabled = True
        else:
            out = cls.forward(ctx, *args, **kwargs)
        if not record:
            ctx._saved = None
            return out
        is_tuple = type(out) is tuple
        outs = out if is_tuple else (out,)
        _link_inputs(ctx, args, needs)
        fixed, meta = [], []
        non_diff = ctx._non_diff
        for i, o in enumerate(outs):
            if isinstance(o, T):
                diff = not (non_diff and any(o is t for t in non_diff))
                for a in args:
                    if o is a:  # an input returned as is becomes a new node's output
                        o = o._alias()
                        break
                dt = o._dtype
                meta.append((o._data.shape, dt, o._device))
                if diff and dt.is_floating_point:
                    o._grad_fn = ctx
                    o._output_nr = i
                    o._requires_grad = True
            else:
                meta.append(None)
            fixed.append(o)
        ctx._out_meta = tuple(meta)
        return tuple(fixed) if is_tuple else fixed[0]


def _link_inputs(ctx, args, needs) -> None:
    """ctx's edges to the nodes of the inputs that need a gradient, and the inputs' (shape,
    dtype, device) that backward's results are checked against."""
    T = _Tensor
    edges, meta = [], []
    for a, n in zip(args, needs):
        if n:
            fn = a._grad_fn
            edges.append((fn, a._output_nr) if fn is not None else (a._accumulator(), 0))
        else:
            edges.append(None)
        meta.append((a._data.shape, a._dtype, a._device) if isinstance(a, T) else None)
    ctx.next_functions = tuple(edges)
    ctx._in_meta = tuple(meta)


class Op(Function):
    """Base of minidl's own primitives (minidl.ops): forward on backend arrays, backward on
    Tensors.

    `Op.apply` is the one place where tensors and arrays meet: it checks that the tensor
    arguments share a device, passes their arrays to `forward(ctx, *args)` with `ctx.backend`
    (the device's backend module) and `ctx.device` set, wraps the returned array (or tuple of
    arrays) as tensors, maps the arrays forward gave to `ctx.save_for_backward` back to the
    input/output tensors they belong to (so an in-place change of one is detected), and records
    the node.  `backward(ctx, *grads)` gets gradient tensors and `ctx.saved_tensors` as tensors,
    and returns tensors or backend arrays (wrapped on the input's device), None where no
    gradient flows."""

    @classmethod
    def apply(cls, *args):
        """Run forward on the arguments' arrays and, when an input requires grad under grad mode,
        record a graph node for backward."""
        T = _Tensor
        ctx = Node(cls)
        needs, arrays, tensors = [], [], []
        dev = None
        for a in args:
            if isinstance(a, T):
                d = a._device
                if dev is None:
                    dev = d
                elif d is not dev and d != dev:
                    raise _device_error(cls, dev, d)
                needs.append(a._requires_grad if a._base is None else a.requires_grad)
                arrays.append(a._data)
                tensors.append(a)
            else:
                needs.append(False)
                arrays.append(a)
        if dev is None:
            raise TypeError(f"{cls.__name__}.apply: expected at least one tensor argument")
        needs = ctx.needs_input_grad = tuple(needs)
        ctx.device = dev
        ctx.backend = backend_for(dev)
        st = _state
        enabled = st.enabled
        record = enabled and True in needs
        ctx._pending = ()  # without a graph, whatever forward saves is dropped
        if not record:
            ctx._record = False
        if enabled:
            st.enabled = False
            try:
                out = cls.forward(ctx, *arrays)
            finally:
                st.enabled = True
        else:
            out = cls.forward(ctx, *arrays)
        is_tuple = type(out) is tuple
        outs = []
        for o in (out if is_tuple else (out,)):
            if o is not None:
                for t in tensors:
                    if o is t._data:  # an input's array returned as is: the same storage
                        o = t._alias()
                        break
                else:
                    o = T._wrap(o, dev)
            outs.append(o)
        if not record:
            return tuple(outs) if is_tuple else outs[0]
        pending = ctx._pending
        ctx._pending = None
        _link_inputs(ctx, args, needs)
        non_diff = ctx._non_diff
        meta = []
        for i, o in enumerate(outs):
            if o is None:
                meta.append(None)
                continue
            dt = o._dtype
            meta.append((o._data.shape, dt, dev))
            if dt.is_floating_point and not (non_diff and any(o._data is x for x in non_diff)):
                o._grad_fn = ctx
                o._output_nr = i
                o._requires_grad = True
        ctx._out_meta = tuple(meta)
        if pending:
            # each saved array as the tensor it is (an input or output: in-place changes to it
            # are detected), else as a new tensor
            saved = []
            for s in pending:
                if s is not None:
                    for t in tensors:
                        if t._data is s:
                            s = t
                            break
                    else:
                        for t in outs:
                            if t is not None and t._data is s:
                                s = t
                                break
                        else:
                            s = T._wrap(s, dev)
                saved.append(s)
            ctx.save_for_backward(*saved)
        return tuple(outs) if is_tuple else outs[0]


def _device_error(cls, a, b):
    return DeviceError("Expected all tensors to be on the same device, but found at least two "
                       f"devices, {a} and {b}! (when checking arguments for "
                       f"{cls.__name__.lower()})")


def backward(tensors, grad_tensors=None, retain_graph=None, inputs=None) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' `.grad` (PyTorch's
    torch.autograd.backward)."""
    Tensor = _Tensor
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,) * len(tensors) if grad_tensors is None else (grad_tensors,)
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = Tensor._wrap(backend_for(t._device).full(t._data.shape, 1, t._dtype.np), t._device)
        else:
            if not isinstance(g, Tensor):
                from .creation import tensor as _tensor
                g = _tensor(g, dtype=t.dtype, device=t.device)
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{list(g.shape)} "
                                   f"and output[{i}] has a shape of {list(t.shape)}.")
            g = g.detach()
        g._version.owned = True  # the caller's tensor: no .grad may take its storage
        roots.append((_edge(t), g))
    if inputs is None:
        _run(roots, bool(retain_graph))
        return
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    only, targets, captured = set(), set(), []
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        if t.grad_fn is None:
            only.add(t._accumulator())
        else:
            targets.add(t._grad_fn)
            if t._output_nr not in t._grad_fn._retained:
                # fill .grad for this call
                _mutable(t._grad_fn, "_retained")[t._output_nr] = weakref.ref(t)
                captured.append(t)
    try:
        _run(roots, bool(retain_graph), only, targets | only)
    finally:
        for t in captured:
            t._grad_fn._retained.pop(t._output_nr, None)


def _run(roots, retain: bool, only: set | None = None, targets: set | None = None) -> None:
    """Run the graph from `roots`; with `only`, accumulate into those leaves' nodes alone and
    execute only the nodes that lead to one of `targets` (as torch does for inputs=)."""
    # dependency count of every node reachable from the roots
    deps: dict = {}
    seen = set()
    stack = [e[0] for e, _ in roots]
    for n in stack:
        seen.add(n)
    while stack:
        n = stack.pop()
        for e in n.next_functions:
            if e is None:
                continue
            child = e[0]
            deps[child] = deps.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    execute = None if targets is None else _leading_to(roots, targets)
    buffers: dict = {}
    for (node, nr), g in roots:
        _accumulate(buffers, node, nr, g)
    ready = [n for n in {e[0] for e, _ in roots} if deps.get(n, 0) == 0]
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None)
        if node.__class__ is AccumulateGrad:
            if grads is not None and (only is None or node in only):
                _accumulate_leaf(node, grads[0])
            continue
        results = ()
        if grads is not None:
            if node._hooks or node._retained:
                grads = _run_hooks(node, grads)
            if execute is None or node in execute:
                results = node._apply(grads)
                if not retain:
                    node._release()
        leaves = []
        for i, e in enumerate(node.next_functions):
            if e is None:
                continue
            child, nr = e
            g = results[i] if i < len(results) else None
            if g is not None:
                _accumulate(buffers, child, nr, g)
            d = deps[child] - 1
            deps[child] = d
            if d == 0:
                (leaves if child.__class__ is AccumulateGrad else ready).append(child)
        # leaves on top of the stack run next (PyTorch's order too): a .grad and its hooks come as
        # soon as it is complete, so DDP's allreduce of a bucket overlaps the rest of backward
        ready += leaves


def _leading_to(roots, targets: set) -> set:
    """The nodes with a child from which one of `targets` is reachable."""
    order, visited = [], set()
    stack = [(e[0], False) for e, _ in roots]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in visited:
            continue
        visited.add(n)
        stack.append((n, True))
        for e in n.next_functions:
            if e is not None and e[0] not in visited:
                stack.append((e[0], False))
    reach, execute = set(), set()
    for n in order:  # children first
        if any(e is not None and e[0] in reach for e in n.next_functions):
            execute.add(n)
            reach.add(n)
        if n in targets:
            reach.add(n)
    return execute


def _accumulate(buffers, node, nr, g) -> None:
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * len(node._out_meta)
    buf[nr] = g if buf[nr] is None else buf[nr] + g


def _run_hooks(node, grads):
    for nr, hooks in node._hooks.items():
        for h in list(hooks):
            if grads[nr] is not None:
                r = h(grads[nr])
                if r is not None:
                    r._version.owned = True  # a hook may return a tensor it keeps
                    grads[nr] = r
    for nr, ref in node._retained.items():
        t = ref()
        if t is not None and grads[nr] is not None:
            t.grad = _own(grads[nr]) if t.grad is None else t.grad + grads[nr].detach()
    return grads


def _own(g):
    """g as a .grad: its storage unless another .grad, a view of it, or the caller holds it.

    A gradient can reach two leaves as one tensor (both inputs of an add) or as views of one
    storage (through reshape/view/squeeze); ownership is marked on the shared storage record,
    so in-place updates of one .grad (clip_grad_norm_, optimizers, hooks) never touch another."""
    ver = g._version
    v = g._view
    if ver.owned or (v is not None and v[3]):  # a strided view's copy is refreshed from its base
        g = g.clone()
        ver = g._version
    ver.owned = True
    return g.detach()


def _accumulate_leaf(node: AccumulateGrad, g) -> None:
    var = node.variable
    if var is None:
        return
    for h in list(node._hooks.get(0, ())):
        r = h(g)
        if r is not None:
            r._version.owned = True
            g = r
    if var.grad is None:
        var.grad = _own(g)
    else:
        var.grad = var.grad + g.detach()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, allow_unused=False):
    """Gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated into .grad."""
    from .tensor import Tensor

    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    saved = [(t, t.grad) for t in inputs]
    for t in inputs:
        t.grad = None
    hooks = []
    try:
        # non-leaf inputs: capture their gradient with a retain hook
        for t in inputs:
            if t._grad_fn is not None:
                t.retain_grad()
                hooks.append(t)
        backward(outputs, grad_outputs, retain_graph=retain_graph, inputs=inputs)
        res = tuple(t.grad for t in inputs)
    finally:
        for t, old in saved:
            t.grad = old
        for t in hooks:
            t._grad_fn._retained.pop(t._output_nr, None)
    if not allow_unused and any(r is None for r in res):
        raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                           "graph. Set allow_unused=True if this is the desired behavior.")
    return res

"""Grade in the trusted process: the checks call a proxy of the candidate, served by the learner's kernel.

The runner grades every exercise this way (see :mod:`course_lib.grading.runner`): the
registry's checks and references run in the grader's own process, and only the learner's
code runs in the kernel. The channel is a Unix socket between the grader and a copy of the
snapshot of the learner's kernel (see :mod:`course_lib.grading.snapshot`), never stdout.
Every message is one frame: an 8-byte length, then ``torch.save`` of a tree of plain
values. The trusted side reads frames only with ``torch.load(weights_only=True)``: no
learner object is ever unpickled there.

What crosses the channel, and how the checks see it:

- **Plain values** (tensors, numbers, strings, None, dtypes, numpy arrays and scalars, and
  lists, tuples and dicts of them) cross as copies; a ``torch.Generator`` argument crosses as
  its state, and the grader's generator is moved on as far as the kernel drew from it.
- **Other results stay in the kernel** as handles: :class:`RemoteModule` for an
  ``nn.Module`` (``isinstance(m, nn.Module)`` holds, and ``isinstance(m, nn.Linear)`` too
  when the kernel's module is one: the proxy's class derives from the nearest ``torch.nn`` or
  ``course_lib`` class of the module's own), whose attribute reads, methods and forward run
  in the kernel; a parameter comes back as a :class:`RemoteParameter` (a tensor, with its
  ``.grad``) whose in-place changes (``copy_``, ``fill_``, ``zero_``, item assignment...)
  are made in the kernel too.
- **Autograd**: a call made in grad mode returns its tensors through an autograd function
  whose backward runs the candidate's backward in the kernel, so ``loss.backward()`` on the
  trusted side gives the trusted leaves their gradients and the kernel's parameters theirs.
- **Trusted objects given to the candidate** (a scripted model, a ``TransformerConfig``, a
  sub-layer, modules to count) are rebuilt in the kernel from a pickle that only
  ``course_lib``, ``torch.nn`` and a few container classes may appear in, once per exercise,
  ties between tensors kept; then copy-in/copy-out: every request carries their state
  (parameters, buffers, gradients, plain attributes) to the kernel and every reply brings
  it back, so both sides see what the other changed (``model.decode_calls``, a tied
  embedding trained through the projection, ``model.training`` restored).

While the kernel serves a candidate, the reference it re-implements is a *tripwire*: the
function's code (a class's own ``__init__`` and ``forward``) is replaced by one that records
the call and raises, so that a candidate calling ``course_lib.masks.causal_mask`` (imported
at the top of the notebook, renamed, subclassed, wrapped, imported inside the candidate, or
kept under another name with a decoy in its place: every live copy is found,
:func:`find_references`) scores 0 with a message that says so. The registry's input guard and spies
(:func:`registry.guarded`, :meth:`Grader.spying`) run on the serving side, where the
candidate runs: the trusted side only ever sees copies.

Known limits (the kernel runs the learner's code, so what is *observed* there can be
tampered with from there; what is *computed* here cannot): the input guard, the spies and
the tripwire run in the kernel, so a notebook that patches them (``registry.guarded``,
``remote._Spies``, the serving loop) or calls a *copy* of the reference's code made while
it is served (a function built then from a code object saved earlier, or its source
executed from the library copy) is not caught by them. It still cannot raise a score by wrong values: every
output is compared here, with the grader's own references and maxima.
"""

from __future__ import annotations

import importlib
import io
import itertools
import pickle
import socket
import struct
import sys
import traceback
import types
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from course_lib.i18n import tr

__all__ = ["ChannelLost", "Channel", "RemoteCandidate", "RemoteModule", "RemoteParameter", "RemoteTensor",
           "RemoteError", "ReferenceCalled", "find_references", "index_references", "serve"]

_LENGTH = struct.Struct("!Q")
#: The most bytes one message may hold (a tensor of a few million elements).
MAX_FRAME = 256 << 20
#: Exceptions re-raised on the trusted side with their own class (checks expect ValueError).
_BUILTIN_ERRORS = {cls.__name__: cls for cls in (ValueError, TypeError, IndexError, KeyError, RuntimeError,
                                                 AttributeError, NotImplementedError, ZeroDivisionError,
                                                 AssertionError, ArithmeticError, OverflowError)}
#: Types that cross the channel as they are.
_SCALARS = (int, float, bool, str, type(None), torch.dtype, torch.Size, torch.device)
#: Graphs of tracked calls the kernel keeps for a later backward (the oldest are dropped).
_GRAPHS_KEPT = 64


class RemoteError(Exception):
    """An exception of a type the trusted side does not re-create, raised by the learner's code."""


class ChannelLost(BaseException):
    """The kernel's end went away or stopped answering (timeout, crash): not a case's failure.

    A ``BaseException``, so that ``Grader.case`` lets it through and the grader reports the
    timeout or the crash as it does for a notebook that cannot be graded.
    """


class ReferenceCalled(Exception):
    """The candidate called the reference it re-implements."""


class Channel:
    """Frames of plain values over a socket, read with ``torch.load(weights_only=True)``."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sent = _Sent()  # the trusted objects given to the kernel (trusted side only)

    def send(self, value) -> None:
        buffer = io.BytesIO()
        torch.save(value, buffer)
        data = buffer.getvalue()
        self.sock.sendall(_LENGTH.pack(len(data)) + data)

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("the other end closed the channel")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self):
        (n,) = _LENGTH.unpack(self._exactly(_LENGTH.size))
        if n > MAX_FRAME:
            raise ConnectionError(f"a message of {n} bytes; the limit is {MAX_FRAME}")
        return torch.load(io.BytesIO(self._exactly(n)), weights_only=True)


# -- state of the objects both sides hold (copy-in / copy-out) ------------------------------------
def _tensors(obj) -> dict:
    """An object's parameters and buffers by name (each tensor once)."""
    if not isinstance(obj, nn.Module):
        return {}
    return dict(itertools.chain(obj.named_parameters(), obj.named_buffers()))


def _state(obj) -> dict:
    """What the other side may have changed: plain attributes of every sub-module, tensors and gradients."""
    state = {}
    modules = obj.named_modules() if isinstance(obj, nn.Module) else [("", obj)]
    for prefix, module in modules:
        for attribute, value in getattr(module, "__dict__", {}).items():
            if type(value) in (int, float, bool, str, type(None)):
                state[("attr", prefix, attribute)] = value
    for name, tensor in _tensors(obj).items():
        state[("tensor", name)] = tensor.detach()
        state[("grad", name)] = None if tensor.grad is None else tensor.grad.detach()
    return state


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def _apply(obj, state: dict) -> None:
    """Make ``obj`` hold ``state``, changing only what differs (an equal copy would bump versions)."""
    mine, tensors = _state(obj), _tensors(obj)
    modules = dict(obj.named_modules()) if isinstance(obj, nn.Module) else {"": obj}
    for key, value in state.items():
        if key not in mine or _same(mine[key], value):
            continue
        kind = key[0]
        if kind == "attr" and (type(value) is type(mine[key]) or None in (value, mine[key])):
            object.__setattr__(modules[key[1]], key[2], value)
        elif kind == "tensor" and isinstance(value, torch.Tensor):
            target = tensors[key[1]]
            with torch.no_grad():
                if target.shape == value.shape and target.dtype == value.dtype:
                    target.copy_(value)
                else:  # .double() on the other side
                    target.data = value.clone()
        elif kind == "grad" and (value is None or isinstance(value, torch.Tensor)):
            try:
                tensors[key[1]].grad = None if value is None else value.clone()
            except (RuntimeError, TypeError):  # a gradient that does not fit: left as it was
                pass


class _Sent:
    """The trusted side's register of the objects it gave to the kernel, by local id."""

    def __init__(self):
        self.objects: list = []
        self.ids: dict[int, int] = {}
        self.tensors: dict[int, tuple[int, str]] = {}  # id(tensor) -> (object id, name)

    def register(self, obj) -> int:
        if id(obj) not in self.ids:
            self.ids[id(obj)] = len(self.objects)
            self.objects.append(obj)
            for name, tensor in _tensors(obj).items():
                self.tensors.setdefault(id(tensor), (self.ids[id(obj)], name))
        return self.ids[id(obj)]

    def resolve(self, reference: list):
        kind, lid, *name = reference
        obj = self.objects[lid]
        return _tensors(obj)[name[0]] if kind == "tensor" else obj


# -- the trusted side ---------------------------------------------------------------------------
class _Encoder:
    """Turns the trusted side's arguments into plain values; collects what must cross with them."""

    def __init__(self, channel: Channel, track: bool = False):
        self.channel, self.track = channel, track
        self.generators: list = []
        self.leaves: list = []  # tensors that require grad, in the order they were met (tracked calls)
        self.new: list = []  # objects the kernel does not hold yet

    def __call__(self, value):
        handle = _handle_of(value)
        if handle is not None:
            return {"__handle__": handle}
        if isinstance(value, torch.Tensor):
            plain = value.detach().as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value.detach()
            if self.track and value.requires_grad:
                self.leaves.append(value)
                return {"__leaf__": plain}
            return plain
        if isinstance(value, np.ndarray) and value.dtype != object:
            return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, torch.Generator):
            self.generators.append(value)
            return {"__generator__": value.get_state()}
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, slice):
            return {"__slice__": [self(value.start), self(value.stop), self(value.step)]}
        if type(value) in (list, tuple):
            return type(value)(self(v) for v in value)
        if type(value) in (dict, OrderedDict):
            return {k: self(v) for k, v in value.items()}
        if id(value) not in self.channel.sent.ids:
            self.new.append(value)
        return {"__object__": self.channel.sent.register(value)}

    def extras(self) -> dict:
        """The pickle of the new objects, and the state of those the kernel already holds."""
        sent, new = self.channel.sent, {id(v) for v in self.new}
        extras = {"sync": {lid: _state(obj) for lid, obj in enumerate(sent.objects) if id(obj) not in new}}
        if self.new:
            buffer = io.BytesIO()
            _ObjectPickler(buffer, sent, new).dump([(sent.ids[id(v)], v) for v in self.new])
            extras["objects"] = buffer.getvalue()
        return extras


class _ObjectPickler(pickle.Pickler):
    """Pickles new objects; what the kernel already holds (earlier objects, their tensors, handles) by reference."""

    def __init__(self, file, sent: _Sent, new: set):
        super().__init__(file, protocol=4)
        self.sent, self.new = sent, new

    def persistent_id(self, obj):
        handle = _handle_of(obj)
        if handle is not None:
            return ("handle", handle)
        if id(obj) in self.sent.ids and id(obj) not in self.new:
            return ("object", self.sent.ids[id(obj)])
        if isinstance(obj, torch.Tensor) and id(obj) in self.sent.tensors:
            lid, name = self.sent.tensors[id(obj)]
            if id(self.sent.objects[lid]) not in self.new:
                return ("tensor", lid, name)
        return None


def _handle_of(value) -> int | None:
    if isinstance(value, _Remote):
        return object.__getattribute__(value, "_handle")
    if isinstance(value, torch.Tensor):
        return getattr(value, "_remote_handle", None)
    return None


def _raise_error(kind: str, message: str):
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt(message)
    if kind == "ReferenceCalled":
        raise ReferenceCalled(message)
    if kind == "CaseFailed":  # the serving side's input guard: the case fails with its hint
        from course_lib.grading.registry import CaseFailed

        raise CaseFailed(message)
    raise _BUILTIN_ERRORS.get(kind, RemoteError)(f"{message}" if kind in _BUILTIN_ERRORS else f"{kind}: {message}")


def _exchange(channel: Channel, handle: int, request: dict, encoder: _Encoder | None = None,
              grad: bool | None = None) -> dict:
    """Send one request about ``handle``; the kernel's reply (its error raised here)."""
    if encoder is None:  # else the caller encoded the arguments with it
        encoder = _Encoder(channel)
        if "args" in request:
            request = {**request, "args": encoder(request["args"]), "kwargs": encoder(request["kwargs"])}
    request = {"handle": handle, "grad": torch.is_grad_enabled() if grad is None else grad, **request,
               **encoder.extras()}
    try:
        channel.send(request)
        reply = channel.receive()
    except OSError as error:  # ConnectionError and socket timeouts included
        raise ChannelLost(str(error)) from error
    for generator, state in zip(encoder.generators, reply.get("generators", ())):
        generator.set_state(state)  # the kernel drew from its copy: this one moves on as far
    for lid, state in reply.get("sync", {}).items():
        if isinstance(lid, int) and 0 <= lid < len(channel.sent.objects) and isinstance(state, dict):
            _apply(channel.sent.objects[lid], state)
    if "error" in reply:
        _raise_error(*reply["error"])
    return reply


class _Remote:
    """A handle on an object that stays in the kernel."""

    def __init__(self, channel: Channel, handle: int):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_handle", handle)

    def _ask(self, request: dict):
        channel = object.__getattribute__(self, "_channel")
        reply = _exchange(channel, object.__getattribute__(self, "_handle"), request)
        return _decode(channel, reply["value"])

    def __call__(self, *args, **kwargs):
        channel = object.__getattribute__(self, "_channel")
        handle = object.__getattribute__(self, "_handle")
        if torch.is_grad_enabled():  # the result may be differentiated: through the kernel's graph
            return _TrackedCall(channel, handle, args, kwargs).run()
        return _decode(channel, _exchange(channel, handle, {"op": "call", "args": args, "kwargs": kwargs})["value"])

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask({"op": "getattr", "name": name})


class _TrackedCall:
    """A call in grad mode: its tensors come back as outputs of :class:`_KernelGraph`."""

    def __init__(self, channel: Channel, handle: int, args: tuple, kwargs: dict):
        self.channel, self.handle = channel, handle
        self.encoder = _Encoder(channel, track=True)
        self.request = {"op": "call", "track": True, "args": self.encoder(args), "kwargs": self.encoder(kwargs)}
        self.graph = self.value = None

    def run(self):
        anchor = torch.empty(0, requires_grad=True)  # attaches the outputs to autograd, leaves or not
        outputs = _KernelGraph.apply(self, anchor, *self.encoder.leaves)
        return _decode(self.channel, self.value, outputs)

    def forward(self) -> tuple[list, list]:
        reply = _exchange(self.channel, self.handle, self.request, self.encoder, grad=True)
        self.graph, self.value = reply.get("graph"), reply["value"]
        outputs = [t for t in reply.get("outputs", []) if isinstance(t, torch.Tensor)]
        flags = list(reply.get("differentiable", []))
        return outputs, flags + [False] * (len(outputs) - len(flags))

    def backward(self, grads: tuple) -> list:
        request = {"op": "backward", "graph": self.graph,
                   "grads": [None if g is None else g.detach() for g in grads]}
        grads_in = _exchange(self.channel, self.handle, request)["value"]
        leaves = self.encoder.leaves
        if not isinstance(grads_in, list) or len(grads_in) != len(leaves):
            raise RuntimeError("the kernel sent no gradients for the inputs")
        return [g if isinstance(g, torch.Tensor) and g.shape == leaf.shape else None
                for g, leaf in zip(grads_in, leaves)]


class _KernelGraph(torch.autograd.Function):
    """The candidate's forward and backward, both run in the kernel."""

    @staticmethod
    def forward(ctx, call: _TrackedCall, anchor, *leaves):
        ctx.set_materialize_grads(False)
        ctx.call = call
        outputs, differentiable = call.forward()
        if not outputs:
            outputs, differentiable = [torch.empty(0)], [False]
        ctx.mark_non_differentiable(*[t for t, d in zip(outputs, differentiable)
                                      if not d or not (t.is_floating_point() or t.is_complex())])
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        if ctx.call.graph is None:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        return (None, None, *ctx.call.backward(grads))


class RemoteCandidate(_Remote):
    """The candidate the checks are given: a callable whose calls run in the learner's kernel."""

    @contextmanager
    def remote_spying(self, targets: dict):
        """:meth:`Grader.spying` on the serving side: which of ``targets`` the kernel's code calls.

        The owners (modules, classes) cross the channel as dotted names and are looked up
        again in the kernel, where the candidate runs.
        """
        named = {label: (_dotted(owner), attribute) for label, (owner, attribute) in targets.items()}
        self._ask({"op": "spy", "targets": named})
        called: list[str] = []
        try:
            yield called
        finally:
            called.extend(self._ask({"op": "spied"}))


class RemoteModule(_Remote, nn.Module):
    """A handle on an ``nn.Module`` in the kernel: ``isinstance(m, nn.Module)`` holds, and every
    attribute (``parameters``, ``state_dict``, ``load_state_dict``, ``eval``, ``forward``...) is
    read in the kernel, so methods run there; tensors come back as copies.

    Nothing of ``nn.Module`` (or of the ``torch.nn`` class a proxy class derives from, see
    :func:`_module_class`) runs here: the base classes are for ``isinstance`` only.
    """

    def __getattribute__(self, name: str):
        if name in _LOCAL:
            return object.__getattribute__(self, name)
        return object.__getattribute__(self, "_ask")({"op": "getattr", "name": name})

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"setting {name!r} on a module served by the kernel is not supported")

    def __iter__(self):  # nn.Sequential, nn.ModuleList
        return iter(self._ask({"op": "list"}))

    def __len__(self) -> int:
        return self._ask({"op": "len"})

    def __bool__(self) -> bool:
        return bool(self._ask({"op": "bool"}))

    def __getitem__(self, index):
        return self._ask({"op": "getitem", "args": (index,), "kwargs": {}})

    def __repr__(self) -> str:
        return str(self._ask({"op": "repr"}))


_LOCAL = frozenset({"_channel", "_handle", "_ask", "__class__", "__dict__", "__call__", "__iter__", "__len__",
                    "__bool__", "__getitem__", "__setattr__", "__repr__", "__reduce_ex__"})
_MODULE_CLASSES: dict[str, type] = {}


def _module_class(base: str) -> type:
    """The proxy class for a kernel module whose nearest known class is ``base`` (already imported here)."""
    if base not in _MODULE_CLASSES:
        module_name, _, name = base.rpartition(".")
        cls = getattr(sys.modules.get(module_name), name, None) if base.startswith(_KNOWN) else None
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or cls is nn.Module or issubclass(cls, _Remote):
            return RemoteModule
        try:
            _MODULE_CLASSES[base] = type(f"Remote{cls.__name__}", (RemoteModule, cls), {"__module__": __name__})
        except TypeError:  # a class that cannot be a base (a metaclass conflict...): nn.Module only
            return RemoteModule
    return _MODULE_CLASSES[base]


_KNOWN = ("torch.nn.", "course_lib.")


class _Forwarding:
    """A tensor that mirrors one in the kernel: an in-place change made here is made there too."""

    _remote_handle: int | None = None

    @classmethod
    def __torch_function__(cls, func, types_, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            result = func(*args, **(kwargs or {}))  # here first: an error is raised as in-process
        if _mutates(func) and args:
            for target in (args[0] if isinstance(args[0], (list, tuple)) else (args[0],)):
                if isinstance(target, _Forwarding) and target._remote_handle is not None:
                    target._push()
        return result

    def _push(self) -> None:
        with torch._C.DisableTorchFunctionSubclass():
            value, requires_grad = self.detach().clone(), self.requires_grad
        _exchange(self._remote_channel, self._remote_handle,
                  {"op": "assign", "value": value, "requires_grad": requires_grad})


def _mutates(func) -> bool:
    name = getattr(func, "__name__", "")
    return (name.endswith("_") and not name.startswith("_")) or name in (
        "__setitem__", "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__imatmul__")


class RemoteTensor(_Forwarding, torch.Tensor):
    """A copy of a tensor the kernel's module holds (a buffer); in-place changes are made there too."""


class RemoteParameter(_Forwarding, nn.Parameter):
    """A copy of a parameter the kernel's module holds, with its ``.grad``; in-place changes are made there too."""


def _dotted(owner) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return owner.__name__


def _decode(channel: Channel, value, outputs: tuple = ()):
    """The kernel's plain values as the checks see them; ``outputs``: a tracked call's tensors."""
    if isinstance(value, dict) and "__handle__" in value:
        if "tensor" in value:
            return _remote_tensor(channel, value)
        cls = _module_class(str(value.get("base", ""))) if value.get("module") else _Remote
        return cls(channel, value["__handle__"])
    if isinstance(value, dict) and set(value) == {"__ndarray__"}:
        return value["__ndarray__"].numpy()
    if isinstance(value, dict) and set(value) == {"__output__"}:
        return outputs[value["__output__"]]
    if isinstance(value, dict) and set(value) == {"__local__"}:
        return channel.sent.resolve(value["__local__"])
    if isinstance(value, list):
        return [_decode(channel, v, outputs) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(channel, v, outputs) for v in value)
    if isinstance(value, dict):
        return {k: _decode(channel, v, outputs) for k, v in value.items()}
    return value


def _remote_tensor(channel: Channel, value: dict) -> torch.Tensor:
    data, requires_grad = value["tensor"], bool(value.get("requires_grad"))
    if value.get("parameter"):
        tensor = RemoteParameter(data, requires_grad)
    else:
        tensor = torch.Tensor._make_subclass(RemoteTensor, data, requires_grad)
    if isinstance(value.get("grad"), torch.Tensor):
        tensor.grad = value["grad"]
    tensor._remote_channel, tensor._remote_handle = channel, value["__handle__"]
    return tensor


# -- the kernel's side ---------------------------------------------------------------------------
class _ObjectUnpickler(pickle.Unpickler):
    """Rebuilds the grader's objects: only course_lib and torch classes, and a few containers."""

    _MODULES = ("course_lib.", "torch.nn.", "torch._utils", "torch.storage", "torch")
    _OTHERS = {("collections", "OrderedDict"), ("types", "SimpleNamespace"), ("copyreg", "_reconstructor"),
               ("builtins", "object"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice")}

    def __init__(self, file, server: _Server):
        super().__init__(file)
        self.server = server

    def find_class(self, module: str, name: str):
        if (module, name) in self._OTHERS or module == "torch" or module.startswith(self._MODULES[:-1]):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not rebuilt here")

    def persistent_load(self, pid):
        kind, index, *name = pid
        if kind == "handle":
            return self.server.handles[index]
        obj = self.server.inbound[index]
        return _tensors(obj)[name[0]] if kind == "tensor" else obj


class _Server:
    """The kernel's half: the candidate, the handles given out, the grader's objects, the graphs kept."""

    def __init__(self, candidate):
        self.handles: list = [candidate]
        self.inbound: list = []  # the grader's objects, rebuilt here, by its local ids
        self.graphs: OrderedDict = OrderedDict()
        self.spies = _Spies()
        self.counter = itertools.count()
        self._ids: tuple[dict, dict] = ({}, {})  # the grader's objects and tensors here, by id

    # -- the grader's objects -------------------------------------------------------------------
    def receive_objects(self, request: dict) -> None:
        for lid, state in request.get("sync", {}).items():
            if 0 <= lid < len(self.inbound):
                _apply(self.inbound[lid], state)
        if request.get("objects"):
            for lid, obj in _ObjectUnpickler(io.BytesIO(request["objects"]), self).load():
                while len(self.inbound) <= lid:
                    self.inbound.append(None)
                self.inbound[lid] = obj

    def local_ids(self) -> tuple[dict, dict]:
        objects = {id(obj): lid for lid, obj in enumerate(self.inbound) if obj is not None}
        tensors: dict = {}
        for lid, obj in enumerate(self.inbound):
            for name, tensor in _tensors(obj).items():
                tensors.setdefault(id(tensor), (lid, name))
        return objects, tensors

    # -- values sent back --------------------------------------------------------------------------
    def plain(self, value, outputs: list | None = None, owned: bool = False):
        """``value`` as plain values; tensors of a tracked call go in ``outputs``; other objects become handles."""
        objects, tensors = self._ids
        if id(value) in objects:
            return {"__local__": ["object", objects[id(value)]]}
        if isinstance(value, torch.Tensor):
            if id(value) in tensors:
                return {"__local__": ["tensor", *tensors[id(value)]]}
            if isinstance(value, nn.Parameter) or owned:  # the module's own tensor: a mirror
                return self.handle_of_tensor(value)
            if outputs is not None:
                outputs.append(value)
                return {"__output__": len(outputs) - 1}
            return value.detach().clone()  # a plain tensor: no subclass, no graph, no learner code
        if type(value) is np.ndarray and value.dtype != object:  # numpy_ref exercises: back as an array
            return {"__ndarray__": torch.from_numpy(value.copy())}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return value.item()
        if isinstance(value, _SCALARS):
            return value
        if type(value) in (list, tuple):
            return type(value)(self.plain(v, outputs) for v in value)
        if isinstance(value, dict) and all(type(k) is str for k in value):  # a state_dict (an OrderedDict)
            return {k: self.plain(v, outputs) for k, v in value.items()}
        if isinstance(value, (types.GeneratorType, type({}.items()), type({}.keys()), type({}.values()))):
            return [self.plain(v, outputs) for v in value]  # parameters(), named_buffers()...: a list
        self.handles.append(value)
        if isinstance(value, nn.Module):
            return {"__handle__": len(self.handles) - 1, "module": True, "base": _known_base(type(value))}
        return {"__handle__": len(self.handles) - 1}

    def handle_of_tensor(self, tensor: torch.Tensor) -> dict:
        self.handles.append(tensor)
        grad = tensor.grad if tensor.is_leaf else None
        return {"__handle__": len(self.handles) - 1, "tensor": tensor.detach().clone(),
                "parameter": isinstance(tensor, nn.Parameter), "requires_grad": tensor.requires_grad,
                "grad": None if grad is None else grad.detach().clone()}

    def sync(self) -> dict:
        return {lid: _state(obj) for lid, obj in enumerate(self.inbound) if obj is not None}

    # -- requests ------------------------------------------------------------------------------------
    def answer(self, request: dict) -> dict:
        self.receive_objects(request)
        op, target = request["op"], self.handles[request["handle"]]
        generators: list = []
        leaves: list = []
        reply: dict = {}
        with torch.set_grad_enabled(bool(request.get("grad", True))):
            if op == "call":
                args = _resolve(request["args"], self, generators, leaves)
                kwargs = _resolve(request["kwargs"], self, generators, leaves)
                value = target(*args, **kwargs)
                self._ids = self.local_ids()
                if request.get("track"):
                    return self.tracked(value, leaves, generators)
            elif op == "backward":
                value = self.backward(request)
            else:
                value = self.simple(op, target, request)
        self._ids = self.local_ids()
        reply["value"] = self.plain(value, owned=op == "getattr")
        reply["generators"] = [g.get_state() for g in generators]
        return reply

    def simple(self, op: str, target, request: dict):
        if op == "spy":
            return self.spies.start(request["targets"])
        if op == "spied":
            return self.spies.stop()
        if op == "getattr":
            return getattr(target, request["name"])
        if op == "assign":  # the grader changed its mirror of this tensor in place
            with torch.no_grad():
                value = request["value"]
                if target.shape == value.shape and target.dtype == value.dtype:
                    target.copy_(value)
                else:
                    target.data = value
            if target.is_leaf and target.requires_grad != request["requires_grad"]:
                target.requires_grad_(request["requires_grad"])
            return None
        builtins = {"list": list, "len": len, "bool": bool, "repr": repr}
        if op in builtins:
            return builtins[op](target)
        if op == "getitem":
            return target[_resolve(request["args"], self, [], [])[0]]
        raise ValueError(f"unknown request {op!r}")

    def tracked(self, value, leaves: list, generators: list) -> dict:
        outputs: list = []
        tree = self.plain(value, outputs)
        graph = None
        if any(t.requires_grad for t in outputs):
            graph = next(self.counter)
            self.graphs[graph] = (leaves, outputs)
            while len(self.graphs) > _GRAPHS_KEPT:
                self.graphs.popitem(last=False)
        return {"value": tree, "outputs": [t.detach().clone() for t in outputs], "graph": graph,
                "differentiable": [t.requires_grad for t in outputs],
                "generators": [g.get_state() for g in generators]}

    def backward(self, request: dict) -> list:
        if request.get("graph") not in self.graphs:
            raise RuntimeError("Trying to backward through the graph a second time (or it was freed)")
        leaves, outputs = self.graphs.pop(request["graph"])
        pairs = [(t, g) for t, g in zip(outputs, request["grads"]) if g is not None and t.requires_grad]
        with torch.enable_grad():
            torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
        return [None if leaf.grad is None else leaf.grad.detach().clone() for leaf in leaves]


def _known_base(cls: type) -> str:
    """The nearest class of ``cls`` (itself included) that the grader knows: torch.nn's or course_lib's."""
    for base in cls.__mro__:
        if base.__module__.startswith(_KNOWN) and issubclass(base, nn.Module):
            return f"{base.__module__}.{base.__qualname__}"
    return ""


def _resolve(value, server: _Server, generators: list, leaves: list):
    if isinstance(value, dict) and set(value) == {"__handle__"}:
        return server.handles[value["__handle__"]]
    if isinstance(value, dict) and set(value) == {"__object__"}:
        return server.inbound[value["__object__"]]
    if isinstance(value, dict) and set(value) == {"__leaf__"}:
        leaf = value["__leaf__"].requires_grad_()
        leaves.append(leaf)
        return leaf
    if isinstance(value, dict) and set(value) == {"__ndarray__"}:
        return value["__ndarray__"].numpy()
    if isinstance(value, dict) and set(value) == {"__slice__"}:
        return slice(*(_resolve(v, server, generators, leaves) for v in value["__slice__"]))
    if isinstance(value, dict) and set(value) == {"__generator__"}:
        generator = torch.Generator()
        generator.set_state(value["__generator__"])
        generators.append(generator)
        return generator
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return type(value)(_resolve(v, server, generators, leaves) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, server, generators, leaves) for k, v in value.items()}
    return value


def find_references(exercise_id: str) -> list:
    """Every object in this process that is the course_lib reference of ``exercise_id``.

    Not only what its module's attribute holds now: a notebook may have replaced that
    attribute with a decoy and kept the original under another name. The originals are
    found among all live objects (:func:`index_references`, done once per snapshot): a
    function of that name compiled from the module's file, or a class of that name and
    module whose methods were.
    """
    module_name, name = "course_lib." + exercise_id.rsplit(".", 1)[0], exercise_id.rsplit(".", 1)[1]
    module = importlib.import_module(module_name)
    found = [getattr(module, name, None), *index_references().get((module_name, name), [])]
    return list({id(obj): obj for obj in found if callable(obj)}.values())


_INDEX: dict | None = None


def index_references() -> dict:
    """``(module, qualname) -> [objects]`` for every live course_lib function and class (cached)."""
    global _INDEX
    if _INDEX is None:
        import gc

        files = {getattr(m, "__file__", None): n for n, m in list(sys.modules.items()) if n.startswith("course_lib.")}
        files.pop(None, None)
        index: dict = {}
        for obj in gc.get_objects():  # type(), not isinstance: no object's own __class__ is consulted
            if type(obj) is types.FunctionType and obj.__code__.co_filename in files:
                index.setdefault((files[obj.__code__.co_filename], obj.__qualname__), []).append(obj)
            elif issubclass(type(obj), type) and str(type.__getattribute__(obj, "__module__")).startswith("course_lib."):
                methods = [v for v in type.__getattribute__(obj, "__dict__").values() if type(v) is types.FunctionType]
                module_name = type.__getattribute__(obj, "__module__")
                if any(files.get(v.__code__.co_filename) == module_name for v in methods):
                    index.setdefault((module_name, type.__getattribute__(obj, "__qualname__")), []).append(obj)
        _INDEX = index
    return _INDEX


def serve(sock: socket.socket, candidate, reference=None, name: str | None = None) -> None:
    """Serve the trusted side's requests on ``candidate`` until it closes the channel.

    ``reference`` (a function or class, or a list of them: see :func:`find_references`) is
    made a tripwire (:func:`_arm`) while the candidate is served. With ``name``
    (the exercise's), the candidate is wrapped by :func:`registry.guarded` here, where it
    runs: a call that changes its inputs fails its case (the trusted side only sees copies).
    """
    called: list[str] = []
    for original in reference if isinstance(reference, list) else [reference] if reference is not None else []:
        if original is not candidate:
            _arm(original, called)
        elif _library_code(original):  # `from course_lib.masks import causal_mask`: the reference itself
            called.append(_is_the_reference(original))
        # else: a notebook that put its own candidate in the reference's place; it is graded as it is
    if name is not None:
        from course_lib.grading.registry import guarded

        candidate = guarded(candidate, name)
    channel = Channel(sock)
    server = _Server(candidate)
    while True:
        try:
            request = channel.receive()
        except ConnectionError:
            return
        try:
            reply = server.answer(request)
            if called:
                raise ReferenceCalled(called[0])
        except BaseException as error:  # the learner's code: anything, reported to the trusted side
            kind = "ReferenceCalled" if called else type(error).__name__
            reply = {"error": (kind, called[0] if called else _where(error))}
        try:
            reply["sync"] = server.sync()
        except Exception:  # a grader's object the learner's code broke: the trusted side keeps its own
            pass
        channel.send(reply)


class _Spies:
    """The kernel's half of :meth:`RemoteCandidate.remote_spying`: spies that record and pass on."""

    def __init__(self):
        self.called: list[str] = []
        self.saved: list = []

    def start(self, targets: dict) -> None:
        self.stop()
        for label, (owner_name, attribute) in targets.items():
            owner = _lookup(owner_name)
            original = getattr(owner, attribute)

            def spy(*args, _original=original, _label=label, **kwargs):
                self.called.append(_label)
                return _original(*args, **kwargs)

            self.saved.append((owner, attribute, original))
            setattr(owner, attribute, spy)

    def stop(self) -> list[str]:
        for owner, attribute, original in reversed(self.saved):
            setattr(owner, attribute, original)
        called, self.called, self.saved = self.called, [], []
        return called


def _lookup(dotted: str):
    """The module, or the class inside a module, named ``dotted``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ValueError(f"cannot find {dotted!r}")


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if f.filename.startswith("<") or "ipykernel" in f.filename]
    line = f" (line {mine[-1].lineno})" if mine else ""
    return f"{error}{line}"


_TRIPWIRE = "__course_grade_tripwire__"


def _tripped(*args, **kwargs):
    raise __course_grade_tripwire__()  # noqa: F821 (set in the reference's module by _arm)


def _library_code(obj) -> bool:
    """Whether ``obj`` is one of course_lib's own functions or classes (compiled from its files)."""
    return any(obj is found for objects in index_references().values() for found in objects)


def _is_the_reference(reference) -> str:
    where = f"{reference.__module__}.{reference.__name__}"
    return tr(f"your `{reference.__name__}` is the reference `{where}` itself, imported instead of "
              "re-implemented: 0 points",
              f"你的 `{reference.__name__}` 就是参考实现 `{where}` 本身（是导入的，不是自己实现的）：0 分")


def _arm(reference, called: list) -> None:
    """Make every call of ``reference`` in this process, through any alias, record itself and raise.

    The function's code is swapped for one that raises, so ``from course_lib.masks import
    causal_mask as cm`` at the top of a cell, a default argument or a closure are caught too.
    """
    where = f"{reference.__module__}.{reference.__name__}"
    message = tr(f"your code calls the reference `{where}` that it should re-implement: 0 points",
                 f"你的代码调用了它应当自己实现的参考实现 `{where}`：0 分")

    def trip():
        called.append(message)
        return ReferenceCalled(message)

    if isinstance(reference, type):  # a class: its own methods trip (subclasses calling super() too)
        def tripped_method(*args, **kwargs):
            raise trip()

        for attribute in ("__init__", "forward"):
            if attribute in vars(reference):
                setattr(reference, attribute, tripped_method)
        return
    reference.__globals__[_TRIPWIRE] = trip
    reference.__code__ = _tripped.__code__

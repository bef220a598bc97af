"""Grade in the trusted process: the checks call a proxy of the candidate, served by the learner's kernel.

Work in progress (branch ``grade-wip``): only candidates whose arguments and results are
plain values (tensors, numbers, strings, None, bool, and lists, tuples and dicts of them)
are served; a result of any other type stays in the kernel and comes back as a handle
whose attribute reads and calls go over the channel.

The channel is a Unix socket between the grader and the snapshot of the learner's kernel
(see :mod:`course_lib.grading.snapshot`), never stdout. Every message is one frame: an
8-byte length, then ``torch.save`` of a tree of plain values. The trusted side reads frames
only with ``torch.load(weights_only=True)``: no learner object is ever unpickled there.

While the kernel serves a candidate, the reference it re-implements is a *tripwire*: the
function's code is replaced by one that records the call and raises, so that a candidate
calling ``course_lib.masks.causal_mask`` (imported at the top of the notebook or inside the
candidate) scores 0 with a message that says so.
"""

from __future__ import annotations

import importlib
import io
import socket
import struct
import traceback
import types
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["ChannelLost", "Channel", "RemoteCandidate", "RemoteModule", "RemoteError", "ReferenceCalled", "serve"]

_LENGTH = struct.Struct("!Q")
#: The most bytes one message may hold (a tensor of a few million elements).
MAX_FRAME = 256 << 20
#: Exceptions re-raised on the trusted side with their own class (checks expect ValueError).
_BUILTIN_ERRORS = {cls.__name__: cls for cls in (ValueError, TypeError, IndexError, KeyError, RuntimeError,
                                                 AttributeError, NotImplementedError, ZeroDivisionError,
                                                 AssertionError, ArithmeticError, OverflowError)}


class RemoteError(Exception):
    """An exception of a type the trusted side does not re-create, raised by the learner's code."""


class ChannelLost(BaseException):
    """The kernel's end went away or stopped answering (timeout, crash): not a case's failure.

    A ``BaseException``, so that ``Grader.case`` lets it through and the grader reports the
    timeout or the crash as it does for the in-kernel path.
    """


class ReferenceCalled(Exception):
    """The candidate called the reference it re-implements."""


class Channel:
    """Frames of plain values over a socket, read with ``torch.load(weights_only=True)``."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

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


# -- the trusted side ---------------------------------------------------------------------------
class _Remote:
    """A handle on an object that stays in the kernel."""

    def __init__(self, channel: Channel, handle: int):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_handle", handle)

    def _ask(self, request: dict):
        generators: list = []
        if "args" in request:
            request = {**request, "args": _encode(request["args"], generators),
                       "kwargs": _encode(request["kwargs"], generators)}
        try:
            self._channel.send({"handle": self._handle, **request})
            reply = self._channel.receive()
        except OSError as error:  # ConnectionError and socket timeouts included
            raise ChannelLost(str(error)) from error
        for generator, state in zip(generators, reply.get("generators", ())):
            generator.set_state(state)  # the kernel drew from its copy: this one moves on as far
        if "error" in reply:
            kind, message = reply["error"]
            if kind == "KeyboardInterrupt":
                raise KeyboardInterrupt(message)
            if kind == "ReferenceCalled":
                raise ReferenceCalled(message)
            if kind == "CaseFailed":  # the serving side's input guard: the case fails with its hint
                from course_lib.grading.registry import CaseFailed

                raise CaseFailed(message)
            raise _BUILTIN_ERRORS.get(kind, RemoteError)(f"{message}" if kind in _BUILTIN_ERRORS else f"{kind}: {message}")
        return _decode(self._channel, reply["value"])

    def __call__(self, *args, **kwargs):
        return self._ask({"op": "call", "args": args, "kwargs": kwargs})

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._ask({"op": "getattr", "name": name})


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


class RemoteModule(_Remote, torch.nn.Module):
    """A handle on an ``nn.Module`` in the kernel: ``isinstance(m, nn.Module)`` holds, and every
    attribute (``parameters``, ``state_dict``, ``load_state_dict``, ``eval``, ``forward``...) is
    read in the kernel, so methods run there; tensors come back as copies.

    Nothing of ``nn.Module`` runs here: it is a base class only for ``isinstance``.
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

    def __getitem__(self, index):
        return self._ask({"op": "getitem", "index": index})


_LOCAL = frozenset({"_channel", "_handle", "_ask", "__class__", "__dict__", "__call__", "__iter__", "__len__",
                    "__getitem__", "__setattr__", "__repr__", "__reduce_ex__"})


def _dotted(owner) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return owner.__name__


def _encode(value, generators: list):
    """``value`` as plain values; a ``torch.Generator`` crosses as its state (kept in ``generators``)."""
    if isinstance(value, _Remote):
        return {"__handle__": value._handle}
    if isinstance(value, np.ndarray) and value.dtype != object:
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Generator):
        generators.append(value)
        return {"__generator__": value.get_state()}
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(v, generators) for v in value)
    if isinstance(value, dict):
        return {k: _encode(v, generators) for k, v in value.items()}
    return value


def _decode(channel: Channel, value):
    if isinstance(value, dict) and set(value) == {"__ndarray__"}:
        return value["__ndarray__"].numpy()
    if isinstance(value, dict) and set(value) <= {"__handle__", "module"} and "__handle__" in value:
        return (RemoteModule if value.get("module") else _Remote)(channel, value["__handle__"])
    if isinstance(value, list):
        return [_decode(channel, v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(channel, v) for v in value)
    if isinstance(value, dict):
        return {k: _decode(channel, v) for k, v in value.items()}
    return value


# -- the kernel's side ---------------------------------------------------------------------------
_PLAIN = (torch.Tensor, int, float, str, bool, type(None), torch.dtype, torch.Size)


def _plain(value, handles: list) -> object:
    """``value`` as plain values; any other object is kept in ``handles`` and sent as a handle."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()  # a plain tensor: no subclass, no graph, no learner code
    if type(value) is np.ndarray and value.dtype != object:  # numpy_ref exercises: back as an array
        return {"__ndarray__": torch.from_numpy(value.copy())}
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    if type(value) in (list, tuple):
        return type(value)(_plain(v, handles) for v in value)
    if isinstance(value, dict) and all(type(k) is str for k in value):  # a state_dict (an OrderedDict)
        return {k: _plain(v, handles) for k, v in value.items()}
    if isinstance(value, (types.GeneratorType, type({}.items()), type({}.keys()), type({}.values()))):
        return [_plain(v, handles) for v in value]  # parameters(), named_buffers()...: a list
    handles.append(value)
    if isinstance(value, torch.nn.Module):
        return {"__handle__": len(handles) - 1, "module": True}
    return {"__handle__": len(handles) - 1}


def _resolve(value, handles: list, generators: list):
    if isinstance(value, dict) and set(value) == {"__handle__"}:
        return handles[value["__handle__"]]
    if isinstance(value, dict) and set(value) == {"__ndarray__"}:
        return value["__ndarray__"].numpy()
    if isinstance(value, dict) and set(value) == {"__generator__"}:
        generator = torch.Generator()
        generator.set_state(value["__generator__"])
        generators.append(generator)
        return generator
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, handles, generators) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, handles, generators) for k, v in value.items()}
    return value


def serve(sock: socket.socket, candidate, reference=None, name: str | None = None) -> None:
    """Serve the trusted side's requests on ``candidate`` until it closes the channel.

    ``reference`` (a function) is replaced, in its module and in every namespace the
    candidate's globals reach, by a tripwire while the candidate is served. With ``name``
    (the exercise's), the candidate is wrapped by :func:`registry.guarded` here, where it
    runs: a call that changes its inputs fails its case (the trusted side only sees copies).
    """
    if name is not None:
        from course_lib.grading.registry import guarded

        candidate = guarded(candidate, name)
    channel = Channel(sock)
    handles: list = [candidate]
    called: list[str] = []
    spies = _Spies()
    if reference is not None:
        _arm(reference, called)
    while True:
        try:
            request = channel.receive()
        except ConnectionError:
            return
        generators: list = []
        try:
            target = handles[request["handle"]]
            if request["op"] == "spy":
                value = spies.start(request["targets"])
            elif request["op"] == "spied":
                value = spies.stop()
            elif request["op"] == "call":
                value = target(*_resolve(request["args"], handles, generators),
                               **_resolve(request["kwargs"], handles, generators))
            elif request["op"] == "getattr":
                value = getattr(target, request["name"])
            elif request["op"] == "list":
                value = list(target)
            elif request["op"] == "len":
                value = len(target)
            elif request["op"] == "getitem":
                value = target[request["index"]]
            else:
                raise ValueError(f"unknown request {request['op']!r}")
            if called:
                raise ReferenceCalled(called[0])
            reply = {"value": _plain(value, handles), "generators": [g.get_state() for g in generators]}
        except BaseException as error:  # the learner's code: anything, reported to the trusted side
            kind = "ReferenceCalled" if called else type(error).__name__
            reply = {"error": (kind, called[0] if called else _where(error))}
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


def _arm(reference, called: list) -> None:
    """Make every call of ``reference`` in this process, through any alias, record itself and raise.

    The function's code is swapped for one that raises, so ``from course_lib.masks import
    causal_mask as cm`` at the top of a cell, a default argument or a closure are caught too.
    """
    message = (f"your code calls the reference `{reference.__module__}.{reference.__name__}` that it "
               "should re-implement: 0 points")

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

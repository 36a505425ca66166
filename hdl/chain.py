"""Series connection of stream components."""

from amaranth.hdl import Module, Shape
from amaranth.lib import data, wiring

__all__ = ["Chain", "payload_width"]


def payload_width(component, port: str) -> int:
    """Width in bits of a stream port's payload."""
    shape = component.signature.members[port].signature.members["payload"].shape
    return Shape.cast(shape).width if not isinstance(shape, data.Layout) else shape.size


class Chain(wiring.Component):
    """Connect stream components one after the other.

    Stage ``k``'s ``o`` is connected to stage ``k + 1``'s ``i`` with :func:`wiring.connect`
    (their stream signatures must be equal, in particular the payload shapes). The chain's ``i``
    is the first stage's ``i`` and its ``o`` the last stage's ``o``, with the same signatures.
    Nothing is added between the stages: latency and throughput are those of the stages.

    Parameters
    ----------
    stages : list of wiring.Component, or dict of name -> wiring.Component
        At least one stage; each must have an ``In`` port ``i`` and an ``Out`` port ``o``.
        A list names the submodules ``stage0``, ``stage1``, ...; a dict gives the names.

    Attributes
    ----------
    i : the first stage's ``i`` member (``In(stream.Signature(...))``)
    o : the last stage's ``o`` member (``Out(stream.Signature(...))``)
    """

    def __init__(self, stages):
        self._stages = {}
        if isinstance(stages, dict):
            items = list(stages.items())
        else:
            try:
                items = [(f"stage{k}", stage) for k, stage in enumerate(stages)]
            except TypeError:
                raise ValueError(f"stages must be a list or dict of components, "
                                 f"not {stages!r}") from None
        self._stages = dict(items)
        if not items:
            raise ValueError("a Chain needs at least one stage")
        for name, stage in items:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"stage name must be an identifier, not {name!r}")
            if not isinstance(stage, wiring.Component):
                raise ValueError(f"stage {name!r} must be a wiring.Component, not {stage!r}")
            members = stage.signature.members
            for port, flow in (("i", wiring.In), ("o", wiring.Out)):
                if (port not in members or not members[port].is_signature
                        or members[port].flow != flow):
                    raise ValueError(f"stage {name!r} ({stage!r}) must have a port "
                                     f"{port!r} of flow {flow.name}")
        for (name_a, a), (name_b, b) in zip(items, items[1:]):
            sig_o = a.signature.members["o"].signature
            sig_i = b.signature.members["i"].signature.flip()   # as seen from outside
            if sig_o != sig_i:
                raise ValueError(f"stage {name_a!r} output {sig_o!r} does not match "
                                 f"stage {name_b!r} input {sig_i!r}")
        super().__init__(wiring.Signature({
            "i": items[0][1].signature.members["i"],
            "o": items[-1][1].signature.members["o"],
        }))

    @property
    def stages(self):
        """The stages by name, in order (a copy)."""
        return dict(self._stages)

    def __repr__(self):
        inner = ", ".join(f"{name}={stage!r}" for name, stage in self._stages.items())
        return f"Chain({inner})"

    def elaborate(self, platform):
        m = Module()
        stages = list(self._stages.values())
        for name, stage in self._stages.items():
            m.submodules[name] = stage
        wiring.connect(m, wiring.flipped(self.i), stages[0].i)
        for a, b in zip(stages, stages[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, stages[-1].o, wiring.flipped(self.o))
        return m

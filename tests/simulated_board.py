"""A stand-in for a board's answers in host-side tests, computed by the hardware, not the reference.

:class:`SimulatedPipeline` answers an INFER payload the way the UART server does: it cuts the payload
into the pipeline's input words (``bytes_per_word`` bytes each, little-endian, the low ``input_width``
bits kept), streams them through the plan's compiled pipeline (:func:`bnn_hw.hdl.pipeline.build_pipeline`)
in the Amaranth simulator, and returns the pipeline's output word as the reply payload, zero-extended
to whole bytes. It never calls ``plan.predict`` and never sees a frame, only bytes: a host test that
compares what it gets from this device with the NumPy reference compares the pipeline with the
reference, and the host's frame encoding and result decoding with the hardware's.

Simulating is slow next to a lookup, so answers are kept: :meth:`SimulatedPipeline.prime` simulates
many payloads in one run (frames are independent in the pipeline); a payload not primed is
simulated when it is asked for.
"""

import threading

from bnn_hw.compiler.io_layout import plan_info
from bnn_hw.hdl.pipeline import build_pipeline, payload_width
from stream_testing import stream_through

__all__ = ["SimulatedPipeline"]


class SimulatedPipeline:
    """INFER payloads of ``plan``'s frames answered by its pipeline in the Amaranth simulator."""

    def __init__(self, plan):
        self.plan = plan
        self.info = plan_info(plan)   # what the server is built to answer to INFO
        self.simulated = 0            # payloads run through the pipeline so far
        self._answers: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def prime(self, payloads) -> None:
        """Simulate every payload in ``payloads`` not answered yet, in one run."""
        with self._lock:
            new = list(dict.fromkeys(p for p in map(bytes, payloads) if p not in self._answers))
            if not new:
                return
            for payload in new:
                if len(payload) != self.info.frame_bytes:
                    raise ValueError(f"an INFER payload has {self.info.frame_bytes} bytes, not {len(payload)}")
            pipeline = build_pipeline(self.plan)
            width, size = payload_width(pipeline, "i"), self.info.bytes_per_word
            words = [int.from_bytes(p[k:k + size], "little") & ((1 << width) - 1)
                     for p in new for k in range(0, len(p), size)]
            results = stream_through(pipeline, words, len(new), max_cycles=50_000 + 1_000 * len(new))
            assert all(r >> (8 * self.info.result_bytes) == 0 for r in results)
            for payload, result in zip(new, results):
                self._answers[payload] = result.to_bytes(self.info.result_bytes, "little")
            self.simulated += len(new)

    def result(self, payload: bytes) -> bytes:
        """The INFER reply payload for ``payload`` (a frame's bytes)."""
        self.prime([payload])
        return self._answers[bytes(payload)]

"""Attributes bnn-hw puts on its memories for the synthesis flow."""

__all__ = ["COLLISION_FREE"]

#: On a :class:`~amaranth.lib.memory.Memory` that is never read in a cycle that writes the same word
#: (its component ensures it, and its tests check it): the build declares its read ports collision-X
#: to yosys (``COLLISION_X_MASK``, see ``bnn_hw.boards.build.YOSYS_AFTER_READ``), so no read-before-
#: write emulation sits between its block RAM and the register after it. The build selects the read
#: ports of every module holding such a memory, so that module must hold no other memory.
COLLISION_FREE = "bnn_hw_collision_free"

"""Table ROMs read one word a cycle, built from bit slices and banks so that a block RAM's slow
clock-to-output never meets a multiplexer: what :class:`~bnn_hw.hdl.fixed_point.Requantize`'s tables
and :class:`~bnn_hw.hdl.threshold_search.ThresholdSearch`'s thresholds are read from.

A table of ``width``-bit words is split into the bit slices :func:`~bnn_hw.compiler.microarch.rom_slices`
chooses, each banked at its own :func:`~bnn_hw.compiler.microarch.rom_bank_depth` (the bank: the
address's top bits). Without banks the word is the memories' read data, one cycle after the
address. With banks, every bank's word is registered (reset-less: on the ECP5 the register moves
into the block RAM, :mod:`bnn_hw.boards.ecp5_outreg`) and the bank picked after that register: the
word is a multiplexer of registers, two cycles after the address.
"""

from amaranth.hdl import Array, Cat, Signal, unsigned
from amaranth.lib.memory import Memory

# the slicing and banking are the compiler's plan, which its cost model counts (table_rom_cost)
from ..compiler.microarch import rom_bank_depth, rom_slices
from ..intmath import ceil_div

__all__ = ["table_rom", "table_rom_staged"]


def table_rom(m, adv, addr, words, width, name):
    """Read ``words`` (``width``-bit unsigned integers) at ``addr`` while ``adv``: ``(word, staged)``,
    ``staged`` False when the word is the read data one cycle after the address (no banks), True
    when it is picked from registered banks two cycles after it. Memories are ``rom{name}...``."""
    slices, bank_bits, banks = _layout(width, len(words))
    staged = max(banks) > 1
    outputs, lo = [], 0
    for k, (sw, bb, nb) in enumerate(zip(slices, bank_bits, banks)):
        suffix = "" if len(slices) == 1 else f"s{k}"
        bits = [(w >> lo) & ((1 << sw) - 1) for w in words]
        outputs.append(_banked(m, adv, addr, bits, sw, bb, nb, staged, f"{name}{suffix}"))
        lo += sw
    return Cat(outputs), staged


def table_rom_staged(width, depth):
    """Whether :func:`table_rom` of ``depth`` words of ``width`` bits picks its word from registered
    banks (two cycles after the address, not one)."""
    return max(_layout(width, depth)[2]) > 1


def _layout(width, depth):
    """``(slice widths, address bits per bank, banks)`` of a table ROM, one entry per slice."""
    slices = rom_slices(width, depth)
    bank_bits = [min(rom_bank_depth(w), 1 << (depth - 1).bit_length()).bit_length() - 1 for w in slices]
    return slices, bank_bits, [ceil_div(depth, 1 << b) for b in bank_bits]


def _banked(m, adv, addr, words, width, bank_bits, banks, staged, name):
    """One slice: a memory, or ``banks`` of ``2**bank_bits`` words whose outputs are registered and
    then picked by the address's top bits (also with one bank when ``staged``, so that every slice
    has the same latency)."""
    ports = []
    for b in range(banks):
        init = words[b << bank_bits:(b + 1) << bank_bits]
        rom = Memory(shape=unsigned(width), depth=len(init), init=init)
        m.submodules[f"rom{name}" if banks == 1 else f"rom{name}_{b}"] = rom
        port = rom.read_port()
        m.d.comb += [port.en.eq(adv), port.addr.eq(addr[:bank_bits])]
        ports.append(port.data)
    if not staged:
        return ports[0]
    bank = [Signal(range(banks), name=f"bank{name}_{k}") for k in range(2)]
    data = [Signal(width, name=f"data{name}_{b}", reset_less=True) for b in range(banks)]
    with m.If(adv):
        m.d.sync += [bank[0].eq(addr[bank_bits:]), bank[1].eq(bank[0])]
        m.d.sync += [d.eq(q) for d, q in zip(data, ports)]
    return Array(data)[bank[1]]

"""Population counts: a readable adder tree, and an XNOR-popcount compressor for ECP5.

:func:`popcount` is the simple reference form (a balanced tree of ``+``). :func:`xnor_popcount`
computes ``popcount(~(a ^ b))`` with the XNOR fused into the first level of a compressor tree
built for the Lattice ECP5 fabric (LUT4s and CCU2C carry chains), at about 2.3 LUT4-equivalents
per input bit instead of the 4 to 5.4 the adder tree synthesises to; see
``benchmarks/popcount_luts.py`` for the measured figures.
"""

from functools import lru_cache

from amaranth.hdl import Cat, Const, Module, Signal, Value

__all__ = ["popcount", "xnor_popcount"]


def popcount(value):
    """Return an unsigned :class:`~amaranth.hdl.Value` equal to the number of 1 bits in ``value``.

    The bits are summed pairwise in a balanced tree of adders, so the logic depth grows with
    ``log2(len(value))``. The result is exactly wide enough to hold ``len(value)``
    (a zero-width input gives a zero-width constant 0).
    """
    value = Value.cast(value)
    width = len(value)
    if width == 0:
        return Const(0, 0)
    terms = [value[k] for k in range(width)]
    while len(terms) > 1:
        paired = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    # Adders widen by one bit per level; trim to the minimal width that holds `width`.
    return terms[0][:width.bit_length()]


# Sizes of the "full" counter blocks: a pair (2 bits, count 0..2 in 2 bits), then
# F(h) = 2 * F(h - 1) + 1 (two blocks plus one carry-in bit), i.e. 3 * 2**h - 1. Splitting a count
# into one full block and the rest is what makes the tree cheap; see `_plan`.
def _full_blocks(limit):
    size = 2
    while size <= limit:
        yield size
        size = 2 * size + 1


@lru_cache(maxsize=None)
def _plan(n):
    """Choose how to count ``n`` bits: ``(cost, height, split)``.

    ``n <= 2`` is a leaf (``split`` is ``None``). Otherwise ``split = (n1, n2)``: count ``n1`` and
    ``n2`` bits and add them with one more bit as the carry in (``n = n1 + n2 + 1``). ``cost`` is
    the estimated LUT4-equivalents (one LUT4 per input bit, one carry-chain column per sum bit plus
    one to inject the carry in); ``height`` is the number of carry-chain levels, the tie-breaker.
    The candidates (one full block plus the rest, or a balanced split) give the same cost as an
    exhaustive search over all splits for every ``n <= 1024``.
    """
    if n <= 2:
        return (n, 0, None)
    candidates = {((n - 1) // 2, n - 1 - (n - 1) // 2)}
    candidates.update((n - 1 - f, f) for f in _full_blocks(n - 2))
    best = None
    for n1, n2 in sorted(candidates):
        cost1, height1, _ = _plan(n1)
        cost2, height2, _ = _plan(n2)
        width = max(n1.bit_length(), n2.bit_length())
        key = (cost1 + cost2 + 1 + width + 1, 1 + max(height1, height2))
        if best is None or key < best[:2]:
            best = key + ((n1, n2),)
    return best


class _Node:
    __slots__ = ("n", "lo", "left", "right", "bits")

    def __init__(self, n, lo, left=None, right=None):
        self.n, self.lo, self.left, self.right = n, lo, left, right
        self.bits = None  # list of 1-bit Values, LSB first, once computed


def xnor_popcount(m, a, b, *, max_chain=64):
    """Return an unsigned :class:`~amaranth.hdl.Value` equal to the number of positions where
    ``a`` and ``b`` have equal bits, i.e. ``popcount(~(a ^ b))``, in about half the LUTs.

    ``a`` and ``b`` must have the same width ``N``; the result is ``N.bit_length()`` bits wide
    (a zero-width input gives a zero-width constant 0). The logic is combinational. It is added to
    ``m`` as an anonymous submodule, so calling this inside ``with m.If(...)`` is fine (none of it
    becomes conditional); the returned value is that submodule's output signal. The module is
    needed because the tree shares partial sums, and Amaranth copies a shared sub-expression once
    per use when it lowers a design; as signals they are built once.

    Structure, for the ECP5 fabric (LUT4s and CCU2C carry chains, two chain columns per CCU2C):

    * Level 0, exactly one LUT4 per input bit. Positions are taken in pairs: the two LUT4s that see
      ``(a[i], b[i], a[j], b[j])`` give the 2-bit count of the two XNORs (``x_i ^ x_j`` and
      ``x_i & x_j``). The other positions get a lone XNOR (a LUT2) each, mostly carry-in bits.
    * Levels 1, 2, ...: counts are added two at a time *plus a carry in*,
      ``count(n) = count(n1) + count(n2) + x`` with ``x`` one more XNOR bit, so each adder also
      absorbs an input bit. All the adders of a level are fields of shared carry chains (one
      ``+`` per chain, which yosys maps to CCU2Cs). Between two fields sits one column that gets
      ``x`` on both adder inputs: its sum is the carry out of the field below (that field's MSB)
      and its carry out is ``x`` (``x + x + c = 2x + c``), the carry in of the field above. The
      first field of a chain takes the chain's carry in (nextpnr feeds it in from the fabric).
    * The split ``n = n1 + n2 + 1`` makes one operand a "full" block of ``3 * 2**h - 1`` bits
      when that is cheaper (see ``_plan``), so few chain columns are wasted on unused values.
      Chains are cut at about ``max_chain`` columns.

    Cost (``benchmarks/popcount_luts.py``, yosys ``synth_ecp5``): ``N`` LUT4s plus about
    ``0.65 N`` CCU2Cs, 2.3 to 2.35 LUT4-equivalents (LUT4 + 2 * CCU2C) per input bit for N from
    32 to 512, against 4 to 5.4 for the ``+`` tree of :func:`popcount`. nextpnr adds two CCU2Cs
    (a feed-in and a pass-out) to every chain, and there is at least one chain per level, so its
    packed TRELLIS_COMB count per bit is higher: 2.88 at N = 32, 2.53 at 128, 2.46 at 512.

    Timing: one LUT, then one carry chain per level, about ``log2(N) - 1`` levels, and static
    timing counts the carry through the fields below each one; the adder tree is faster. Measured
    single-cycle on an 85F, speed 6, one seed: 62.6 MHz against 74.6 MHz at N = 128, 40.3 against
    53.5 MHz at N = 512. A smaller ``max_chain`` shortens the carry paths at the price of more
    chains: 16 gives 66.2 and 50.0 MHz, at about 2.38 LUT4-eq (2.78 TRELLIS_COMB) per bit.
    """
    a, b = Value.cast(a), Value.cast(b)
    if len(a) != len(b):
        raise ValueError(f"xnor_popcount needs operands of equal width, not {len(a)} and {len(b)}")
    if max_chain < 2:
        raise ValueError(f"max_chain must be at least 2 columns, not {max_chain!r}")
    n = len(a)
    if n == 0:
        return Const(0, 0)

    sub = Module()
    m.submodules += sub
    # Copy the operands into signals, so that an operand given as an expression is built once
    # rather than once per bit select (and likewise below: every shared sum is a signal, because
    # Amaranth's lowering copies a shared sub-expression once per use).
    xa, xb = Signal(n, name="xpc_a"), Signal(n, name="xpc_b")
    sub.d.comb += [xa.eq(a), xb.eq(b)]

    def xnor(i):
        return ~(xa[i] ^ xb[i])

    levels = {}

    def build(lo, n):
        _, height, split = _plan(n)
        if split is None:
            node = _Node(n, lo)
        else:
            n1, n2 = split
            node = _Node(n, lo, build(lo, n1), build(lo + n1, n2))
        levels.setdefault(height, []).append(node)
        return node

    root = build(0, n)

    for node in levels.pop(0):
        if node.n == 1:
            node.bits = [xnor(node.lo)]
        else:
            x0, x1 = xnor(node.lo), xnor(node.lo + 1)
            node.bits = [x0 ^ x1, x0 & x1]

    for height in sorted(levels):
        # Pack this level's additions into carry chains of at most about `max_chain` columns.
        chains, chain, columns = [], [], 0
        for node in levels[height]:
            width = max(len(node.left.bits), len(node.right.bits))
            if chain and columns + 1 + width > max_chain:
                chains.append(chain)
                chain, columns = [], 0
            chain.append((node, width))
            columns += width + (1 if len(chain) > 1 else 0)
        chains.append(chain)

        for index, chain in enumerate(chains):
            operand_a, operand_b, offsets = [], [], []
            for node, width in chain:
                carry_in = xnor(node.lo + node.n - 1)
                # A chain of one field also takes its carry in through a column, so that its sum is
                # never used whole by the next level: yosys would merge such adds into one $macc
                # and build that from LUTs.
                if operand_a or len(chain) == 1:  # a separator column
                    operand_a.append(carry_in)
                    operand_b.append(carry_in)
                else:  # the first field's carry in is the chain's carry in
                    chain_carry_in = carry_in
                offsets.append(len(operand_a))
                for operand, bits in ((operand_a, node.left.bits), (operand_b, node.right.bits)):
                    operand.extend(bits)
                    operand.extend([Const(0, 1)] * (width - len(bits)))
            total = Signal(len(operand_a) + 1, name=f"xpc_l{height}_c{index}")
            if len(chain) == 1:
                sub.d.comb += total.eq(Cat(*operand_a) + Cat(*operand_b))
            else:
                sub.d.comb += total.eq(Cat(*operand_a) + Cat(*operand_b) + chain_carry_in)
            for (node, width), offset in zip(chain, offsets):
                node.bits = [total[offset + k] for k in range(node.n.bit_length())]

    count = Signal(n.bit_length(), name="xpc_count")
    sub.d.comb += count.eq(Cat(*root.bits))
    return count

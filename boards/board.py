"""What bnn-hw needs to know about a board: its amaranth platform, chip, clocks, LEDs and programmer.

A board file (``ulx3s.py``, ``icebreaker.py``, ...) wraps an amaranth-boards platform with
:func:`build_only` and describes it with a :class:`Board`; everything family-specific (tools,
bitstream, report names, block RAM, PLL) comes from the chip's :class:`~bnn_hw.boards.family.Family`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BnnHwError
from .devices import DEVICES, Device
from .ecp5_pll import PllConfig
from .family import NETLIST_PASS_PYTHON, Family

__all__ = ["Board", "CoreClock", "build_only", "PROGRAMMING_TOOLS", "BUILD_NAME"]

#: The name of the top level and of the files a build writes (``bnn_hw.bit``, ``bnn_hw.rpt``, ...).
BUILD_NAME = "bnn_hw"

#: Tools amaranth-boards' platforms ask for that only program a board or prepare a file for its
#: bootloader; a build runs without them (``bnn-hw program`` uses openFPGALoader).
PROGRAMMING_TOOLS = ("openFPGALoader", "dfu-suffix", "dfu-util", "iceprog")


def build_only(platform_cls: type, resources=()) -> type:
    """A subclass of the amaranth-boards platform ``platform_cls`` that builds without programming
    tools (:data:`PROGRAMMING_TOOLS` are dropped from its required tools and build commands), with
    ``resources`` added to the board's own (e.g. the LEDs of a plug-in module). An instance whose
    ``netlist_pass`` is set runs that module on yosys's netlist before place and route."""
    def programs(template: str) -> bool:
        return any(f'invoke_tool("{tool}")' in template for tool in PROGRAMMING_TOOLS)

    class Platform(platform_cls):
        #: a module run as ``python -m MODULE NAME.json NAME_netlist_pass.json`` after synthesis
        netlist_pass: str | None = None

        @property
        def required_tools(self):
            return [t for t in super().required_tools if t not in PROGRAMMING_TOOLS]

        @property
        def command_templates(self):
            templates = [t for t in super().command_templates if not programs(t)]
            if self.netlist_pass:
                after = next(i for i, t in enumerate(templates) if 'invoke_tool("yosys")' in t) + 1
                templates.insert(after, f'{{{{invoke_tool("{NETLIST_PASS_PYTHON}")}}}} -m {self.netlist_pass} '
                                        f'{{{{name}}}}.json {{{{name}}}}_netlist_pass.json')
            return templates

    Platform.resources = [*platform_cls.resources, *resources]
    Platform.__name__ = Platform.__qualname__ = platform_cls.__name__
    Platform.__doc__ = f"{platform_cls.__name__}, build-only (no programmer required)."
    return Platform


@dataclass(frozen=True)
class CoreClock:
    """The clock the pipeline runs at on a board, and where it comes from; ``server_hz`` is the
    clock of the board's I/O (the UART server) when it has a second output of the PLL to itself."""

    hz: float
    pll: PllConfig | None  #: the PLL settings, or None when the oscillator drives the core directly
    source: str
    server_hz: float | None = None

    @property
    def io_hz(self) -> float:
        """The clock the board's I/O logic runs at."""
        return self.server_hz or self.hz


@dataclass(frozen=True)
class Board:
    """A board bnn-hw builds for."""

    name: str
    title: str               #: for people: ``ULX3S 85F``, ``iCEBreaker``
    platform: type           #: an amaranth platform class (build-only: needs no programmer)
    device: str              #: key of :data:`bnn_hw.boards.devices.DEVICES`
    clock_hz: float          #: the board oscillator
    leds: int                #: the ``led`` resources the demo top drives (0 .. leds-1)
    program_args: tuple[str, ...]  #: openFPGALoader's arguments before the bitstream
    core_clock_hz: float | None = None  #: default core clock from the PLL (None: the oscillator)
    #: the UART server's clock, from a second PLL output, when the core runs faster (None: the
    #: core clock up to ``core_clock_hz``); the server needs no speed, and at the core's clock its
    #: reply logic competed with the pipeline for the critical path
    server_clock_hz: float | None = None

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"{self.name}: unknown device {self.device!r}; known: {', '.join(DEVICES)}")

    @property
    def chip(self) -> Device:
        """The FPGA on the board."""
        return DEVICES[self.device]

    @property
    def has_uart(self) -> bool:
        """Whether the board has a USB-serial port (``uart`` 0) for the UART inference server."""
        return any(r.name == "uart" and r.number == 0 for r in self.platform.resources)

    @property
    def default_interface(self) -> str:
        """The top level ``bnn-hw build`` makes by default: ``"uart"`` where the board has the port,
        else the LED ``"demo"``."""
        return "uart" if self.has_uart else "demo"

    @property
    def family(self) -> Family:
        """The chip's family (tools, bitstream, report names, block RAM, PLL)."""
        return self.chip.family

    def build_platform(self):
        """An instance of the board's platform for a bnn-hw build: with the family's pass over the
        synthesised netlist (the ECP5's block RAM output registers), if it has one."""
        platform = self.platform()
        platform.netlist_pass = self.family.netlist_pass
        return platform

    def bitstream(self, build_dir: str | Path) -> Path:
        """Where a build for this board in ``build_dir`` writes its bitstream."""
        return Path(build_dir) / f"{BUILD_NAME}{self.family.bitstream_suffix}"

    def core_clock(self, mhz: float | None = None, *, separate_server: bool = False) -> CoreClock:
        """The core clock for a request of ``mhz`` (default: the board's core clock). The oscillator's
        own frequency means no PLL; anything else is the highest the PLL makes up to ``mhz``. With
        ``separate_server`` and a request above the server's clock (``server_clock_hz``, else the
        board's core clock), the PLL's second output clocks the UART server at up to that clock, so
        only the pipeline has to meet ``mhz``."""
        osc = self.clock_hz / 1e6
        default = (self.core_clock_hz or self.clock_hz) / 1e6
        mhz = mhz or default
        if mhz == osc:
            return CoreClock(self.clock_hz, None, "board oscillator, no PLL")
        family = self.family
        if family.pll is None:
            raise BnnHwError(f"bnn-hw has no {family.title} PLL support: the {self.name} core runs from its "
                             f"{osc:g} MHz oscillator; leave out --clock (or give --clock {osc:g})")
        server = (self.server_clock_hz or self.core_clock_hz or self.clock_hz) / 1e6
        split = separate_server and mhz > server
        pll = family.pll(osc, mhz, server) if split else family.pll(osc, mhz)
        source = f"{family.pll_name} from the {osc:g} MHz oscillator ({pll})"
        if split:
            return CoreClock(pll.f_out_mhz * 1e6, pll, source + f"; UART server at {pll.f_secondary_mhz:g} MHz",
                             server_hz=pll.f_secondary_mhz * 1e6)
        return CoreClock(pll.f_out_mhz * 1e6, pll, source)

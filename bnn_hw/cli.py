"""The ``bnn-hw`` command line.

    bnn-hw build --board ulx3s net.pt -o build/    bitstream, Verilog, report.json, report.txt, report.html
    bnn-hw import model.onnx -o net.pt             a QONNX (Brevitas) model as bnn-hw layers, exactly
    bnn-hw verilog net.pt -o build/                Verilog and an estimated report only
    bnn-hw sim net.pt --images 200                 cocotb simulation vs the NumPy reference
    bnn-hw report net.pt [--html report.html]      per-layer folding and estimates, no synthesis
    bnn-hw compare build/a build/b [--html FILE] [--markdown]   builds' reports side by side
    bnn-hw run net.pt --port /dev/ttyUSB0          classify test images on a board (--interface uart build)
    bnn-hw program --board ulx3s build/            load the built bitstream with openFPGALoader
    bnn-hw boards                                  supported boards, their chips and clocks

Wherever a ``net.pt`` goes, a QONNX ``.onnx`` file may go instead: it is imported on the way in.

Problems a user can fix print one line, ``error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .errors import BnnHwError

__all__ = ["main"]

DEFAULT_BAUD = 1_000_000  #: the UART server's default serial rate (the FTDI chips take up to 3 Mbaud)


def _load_plan(args, interface: str | None = None):
    """The compiled plan of ``args.model`` and the board it is compiled for; ``--fit`` leaves room
    for the ``"uart"`` server where that is the top level."""
    from .boards import get_board
    from .boards.server_top import capacity_beside_server
    from .compiler.folding import parse_folding
    from .compiler.driver import compile_model

    folding = parse_folding(args.folding) if args.folding else None
    board = get_board(args.board)
    clock_hz = board.core_clock(getattr(args, "clock", None)).hz
    model = _read_model(args.model)
    fit = None
    if args.fit and interface == "uart":
        from .compiler.frontend import from_model
        capacity, device = capacity_beside_server(board, from_model(model).inputs[0][1])
        fit = (device, capacity)
    elif args.fit:
        fit = (board.device, board.chip.capacity())
    plan = compile_model(model, folding, target_fps=args.target_fps, clock_hz=clock_hz, fit=fit,
                         block_ram=board.chip.block_ram)
    if args.fit or args.target_fps:
        how = f"fastest that fits {board.device}" if args.fit else f"cheapest for {args.target_fps:g} frames/s"
        print(f"folding ({how} at {clock_hz / 1e6:g} MHz): "
              + ", ".join(f"{name} {fold}" for name, fold in plan.folds.items()), flush=True)
    return plan, board


def _read_model(path: str):
    """A model file, or a QONNX file (``.onnx``) imported on the way in."""
    if Path(path).suffix.lower() == ".onnx":
        from .onnx_import import import_onnx
        imported = import_onnx(path)
        print(f"imported {path}: {len(imported.model)} layers, {imported.notes[-1]}", flush=True)
        return imported.model
    from . import load
    return load(path)


def cmd_import(args):
    from . import save
    from .onnx_import import import_onnx

    imported = import_onnx(args.model, input_range=args.input_range, check_frames=args.check)
    for note in imported.notes:
        print(note)
    save(imported.model, args.output)
    print(f"wrote {args.output}")


def _sample_inputs(plan, count: int):
    """Test images (and labels) that match the model's input: Fashion-MNIST, digits, or random."""
    from .compiler.ir import Kind
    from .datasets import digits, fashion_mnist

    features = plan.input_type.size
    if plan.input_type.kind is Kind.UINT8 and features == 784:
        x, y = fashion_mnist("test")
    elif plan.input_type.kind is Kind.UINT8 and features == 64:
        x, y = digits("test")
    else:
        rng = np.random.default_rng(0)
        high = 256 if plan.input_type.kind is Kind.UINT8 else 2
        return rng.integers(0, high, (count, features), dtype=np.uint8), None
    return x[:count], y[:count]


def cmd_build(args):
    from .boards.build import build
    from .boards.report import render_text

    from .boards import get_board

    interface = args.interface or get_board(args.board).default_interface
    plan, board = _load_plan(args, interface)
    frames = labels = None
    if interface == "demo":
        frames, labels = _sample_inputs(plan, args.demo_images)
        if labels is None:
            labels = plan.predict(frames)[0]
    start = time.monotonic()
    result = build(plan, board, args.output, demo_frames=frames, demo_labels=labels,
                   baud=args.baud if interface == "uart" else None, clock_mhz=args.clock, seed=args.seed,
                   router=args.router, model=args.model,
                   progress=lambda msg: print(msg, flush=True))
    print(render_text(result.report), end="")
    print(f"report: {Path(args.output) / 'report.html'}")
    print(f"bitstream: {result.bitstream} (built in {time.monotonic() - start:.0f} s)")


def cmd_verilog(args):
    from .boards.report import make_report, render_text, write_report
    from .sim.verilog import write_verilog

    plan, board = _load_plan(args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = write_verilog(plan, out / "bnn_pipeline.v")
    report = make_report(plan, board, model=args.model)
    write_report(report, out)
    print(render_text(report), end="")
    print(f"report: {out / 'report.html'}")
    print(f"Verilog: {path}")


def cmd_report(args):
    from .boards.report import make_report, render_text
    from .compiler.driver import FitError, check_fit

    plan, board = _load_plan(args)
    report = make_report(plan, board)
    print(render_text(report), end="")
    try:   # an estimate over the chip is printed as it is, and said plainly: build refuses it
        check_fit(plan, board.chip.capacity(), board.device)   # compiled for the board's block RAM
    except FitError as e:
        print(f"warning: {e}; bnn-hw build will refuse it", file=sys.stderr)
    if args.html:
        _write_html(args.html, report)


def _write_html(path: str, report: dict, compare: bool = False):
    """``report`` (or, with ``compare``, the named reports) as HTML in ``path``."""
    if compare:
        from .boards.compare import render_compare_html as render
    else:
        from .boards.report_html import render_html as render
    try:
        Path(path).write_text(render(report))
    except OSError as e:
        raise BnnHwError(f"cannot write {path}: {e.strerror}") from None
    print(f"HTML: {path}")


def cmd_compare(args):
    from .boards.compare import load_reports, render_compare_markdown, render_compare_text

    def estimate(given: str):   # a model: its estimated report, as `bnn-hw report` gives it
        from .boards.report import make_report
        plan, board = _load_plan(argparse.Namespace(model=given, board=args.board, folding=None, fit=False,
                                                    target_fps=None))
        return f"{Path(given).resolve().parent.name}/{Path(given).name}", make_report(plan, board, model=given)

    models = {k for k, given in enumerate(args.reports) if Path(given).is_file() and Path(given).suffix != ".json"}
    builds = iter(load_reports([given for k, given in enumerate(args.reports) if k not in models]))
    reports = [estimate(given) if k in models else next(builds) for k, given in enumerate(args.reports)]
    print((render_compare_markdown if args.markdown else render_compare_text)(reports), end="")
    if args.html:
        _write_html(args.html, reports, compare=True)


def cmd_sim(args):
    from .sim.runner import simulate

    plan, _ = _load_plan(args)
    frames, labels = _sample_inputs(plan, args.images)
    print(f"simulating {len(frames)} frames with {args.simulator} ...", flush=True)
    start = time.monotonic()
    result = simulate(plan, frames, simulator=args.simulator, build_dir=args.build_dir,
                      in_stall=args.stall, out_stall=args.stall)
    elapsed = time.monotonic() - start
    mismatches = result.mismatches(*plan.predict(frames))
    print(f"hardware == NumPy reference: {'yes' if mismatches == 0 else f'NO ({mismatches} mismatches)'} "
          f"on {len(frames)} frames")
    if labels is not None:
        print(f"accuracy on these frames: {(result.classes == labels).mean():.4f}")
    print(f"cycles per frame: {result.cycles_per_frame:.1f} (measured), latency: {result.latency_cycles} cycles")
    print(f"simulation: {elapsed:.1f} s including the build")
    return 0 if mismatches == 0 else 1


def _frames_from_npy(path: str, input_type):
    """The frames in the ``.npy`` file ``path`` as a batch of ``input_type`` values, checked before
    any port is opened: one frame per row (flat or shaped), integers in the input's range."""
    from .compiler.ir import Kind

    try:
        frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BnnHwError(f"{path}: not a readable .npy array ({e})") from None
    shape, size = input_type.shape, input_type.size
    if frames.ndim < 2 or frames[0].size != size:
        raise BnnHwError(f"{path}: holds an array of shape {frames.shape}; the model takes frames of {size} "
                         f"values (shape {shape}), one per row: (N, {size}) or (N, ...) with {size} values a row")
    if frames.dtype.kind not in "biu":
        raise BnnHwError(f"{path}: holds {frames.dtype} values; frames are integers")
    top = 255 if input_type.kind is Kind.UINT8 else 1
    if frames.size and (frames.min() < 0 or frames.max() > top):
        raise BnnHwError(f"{path}: values range over {frames.min()}..{frames.max()}; the model's inputs are 0..{top}")
    return frames.reshape((len(frames),) + shape)


def cmd_run(args):
    from .host import open_board

    plan, _ = _load_plan(args)
    if args.npy:
        frames, labels = _frames_from_npy(args.npy, plan.input_type), None
    else:
        frames, labels = _sample_inputs(plan, args.images)
    print(f"classifying {len(frames)} frames on {args.port} at {args.baud} baud ...", flush=True)
    start = time.monotonic()
    with open_board(args.port, args.baud) as client:
        classes, _ = client.classify(plan, frames)
    elapsed = time.monotonic() - start
    for k, c in enumerate(classes[:args.show]):
        print(f"frame {k}: class {c}" + ("" if labels is None else f" (label {labels[k]})"))
    agree = (classes == plan.predict(frames)[0]).mean()
    print(f"board == NumPy reference: {agree:.2%} of frames")
    if labels is not None:
        print(f"accuracy: {(classes == labels).mean():.4f}")
    print(f"{len(frames) / elapsed:.1f} frames/s over the serial link ({elapsed:.1f} s)")
    return 0 if agree == 1 else 1


def cmd_program(args):
    from .boards import get_board
    from .boards.program import built_for, program

    name = args.board or built_for(args.build_dir)
    if name is None:
        raise BnnHwError(f"{args.build_dir} has no report.json naming its board; say which with --board")
    program(get_board(name), args.build_dir, progress=lambda msg: print(msg, flush=True))


def cmd_boards(args):
    from .boards import BOARDS

    print(f"{'board':<16}{'family':<7}{'device':<11}{'LUT4':>7}{'FF':>7}{'EBR':>14}{'DSP':>5}  "
          f"{'top':<6}clock")
    aliases = []
    for name, board in sorted(BOARDS.items()):
        if board.name != name:
            aliases.append(f"{name} = {board.name}")
            continue
        chip = board.chip
        core = board.core_clock()
        clock = f"{board.clock_hz / 1e6:g} MHz oscillator, core {core.hz / 1e6:g} MHz" + \
            (" (PLL)" if core.pll else "")
        ebr = f"{chip.ebr} x {chip.block_ram.kbits} kbit"
        print(f"{name:<16}{chip.family.name:<7}{chip.name:<11}{chip.lut4:>7}{chip.ff:>7}{ebr:>14}{chip.dsp:>5}"
              f"  {board.default_interface:<6}{clock}")
    if aliases:
        print("aliases: " + ", ".join(aliases))


def _positive(kind, *, zero: bool = False):
    """An argparse type: a positive ``kind`` (int or float), or also 0 with ``zero``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value > 0 or (zero and value == 0)) or value in (float("inf"),):
            raise argparse.ArgumentTypeError(f"must be a {'non-negative' if zero else 'positive'} "
                                             f"{'integer' if kind is int else 'number'}, not {text!r}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _probability(text: str) -> float:
    """An argparse type: a probability below 1 (a stall probability of 1 never moves a word)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), not {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Bad arguments print one line (``error: bnn-hw sim: argument --images: ...``), status 2."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bnn-hw", description="Compile binary neural networks into FPGA hardware.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_command(name, help, fn):
        s = sub.add_parser(name, help=help)
        s.add_argument("model", help="model file written by bnn_hw.save (net.pt), or a QONNX .onnx file")
        s.add_argument("--board", default="ulx3s", help="target board (default ulx3s = ULX3S 85F)")
        s.add_argument("--folding", metavar="SPEC",
                       help="folding overrides: a JSON file or NAME=PExSIMD[,NAME=PExSIMD...]")
        auto = s.add_mutually_exclusive_group()
        auto.add_argument("--target-fps", type=_positive(float), metavar="N",
                          help="cheapest folding whose slowest stage reaches N frames/s at the clock")
        auto.add_argument("--fit", action="store_true",
                          help="fastest folding that fits the board's chip (estimate within 80%%)")
        s.set_defaults(fn=fn)
        return s

    s = model_command("build", "synthesise, place and route a model into a bitstream", cmd_build)
    s.add_argument("-o", "--output", default="build", help="output folder (default ./build)")
    s.add_argument("--interface", choices=("uart", "demo"),
                   help="top level: 'uart' serves 'bnn-hw run' over the board's USB-serial port (default "
                        "where the board has one); 'demo' shows stored test images' classes on the LEDs "
                        "(default on boards without a serial port)")
    s.add_argument("--baud", type=_positive(int), default=DEFAULT_BAUD,
                   help=f"with --interface uart: the serial rate (default {DEFAULT_BAUD}; up to 3000000)")
    s.add_argument("--demo-images", type=_positive(int), default=8, help="test images stored on chip for the LED demo")
    s.add_argument("--clock", type=_positive(float), metavar="MHZ",
                   help="core clock from the PLL, at most MHZ (default: the board's, see 'bnn-hw boards'; "
                        "the oscillator's own frequency means no PLL)")
    s.add_argument("--seed", type=int, metavar="N",
                   help="nextpnr's placement seed (default: nextpnr's own); placement decides the longest "
                        "routes, so another seed can meet a clock that one misses")
    s.add_argument("--router", metavar="NAME",
                   help="nextpnr's routing algorithm: router1 (nextpnr's default) or router2, which "
                        "finishes congested designs that router1 does not")
    s = model_command("verilog", "write the pipeline's Verilog and an estimated report", cmd_verilog)
    s.add_argument("-o", "--output", default="build")
    s = model_command("report", "print per-layer folding and resource estimates", cmd_report)
    s.add_argument("--html", metavar="FILE", help="also write the report with plots as one HTML file")
    s = model_command("sim", "simulate the generated RTL on test images against the reference", cmd_sim)
    s.add_argument("--images", type=_positive(int), default=100)
    s.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    s.add_argument("--stall", type=_probability, default=0.0, help="random stall probability on both ports")
    s.add_argument("--build-dir", default=None)
    s = model_command("run", "classify frames on a board running a --interface uart build", cmd_run)
    s.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0")
    s.add_argument("--baud", type=_positive(int), default=DEFAULT_BAUD, help=f"serial rate of the build (default {DEFAULT_BAUD})")
    s.add_argument("--images", type=_positive(int), default=100, help="test images to send (default 100)")
    s.add_argument("--npy", help="send the frames in this .npy array instead (one frame per row)")
    s.add_argument("--show", type=int, default=10, help="print the first N predictions (default 10)")
    s = sub.add_parser("import", help="import a QONNX model (as Brevitas exports it) into a net.pt, exactly")
    s.add_argument("model", help="the .onnx file")
    s.add_argument("-o", "--output", default="net.pt", help="model file to write (default ./net.pt)")
    s.add_argument("--input-range", choices=("unit", "byte"),
                   help="how the graph's input holds a pixel k: k/255 ('unit', as ToTensor gives; the default) "
                        "or k ('byte'; the default when the graph starts by dividing by 255)")
    s.add_argument("--check", type=_positive(int, zero=True), default=32, metavar="N",
                   help="frames on which the import is checked against qonnx's execute_onnx (default 32; 0: none)")
    s.set_defaults(fn=cmd_import)
    s = sub.add_parser("program", help="load a built bitstream onto a board with openFPGALoader")
    s.add_argument("build_dir", help="the output folder of 'bnn-hw build'")
    s.add_argument("--board", help="the board (default: the one the folder was built for)")
    s.set_defaults(fn=cmd_program)
    s = sub.add_parser("compare", help="builds' reports side by side: a table, and plots with --html")
    s.add_argument("reports", nargs="+", metavar="DIR_OR_REPORT_JSON_OR_MODEL",
                   help="build folders (their report.json), report.json files, or model files (their estimate "
                        "with the default folding, as 'bnn-hw report' gives it)")
    s.add_argument("--board", default="ulx3s", help="the board models are estimated for (default ulx3s)")
    s.add_argument("--html", metavar="FILE", help="also write the table and comparison plots as one HTML file")
    s.add_argument("--markdown", action="store_true",
                   help="print a Markdown table, a row a build (the README's results table)")
    s.set_defaults(fn=cmd_compare)
    s = sub.add_parser("boards", help="list supported boards, their chips and clocks")
    s.set_defaults(fn=cmd_boards)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except BnnHwError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

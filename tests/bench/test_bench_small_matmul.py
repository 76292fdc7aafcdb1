"""bench/small_matmul.py still runs: both tables, every shape and both models timed, in a few seconds.

The speed figures themselves are never asserted.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_small_matmul_benchmark_runs(tmp_path):
    script = os.path.join(ROOT, "bench", "small_matmul.py")
    command = [sys.executable, script, "--calls", "20", "--passes", "2", "--threads", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    single = [row for row in rows if "→" in row and "µs" not in row]
    step = [row for row in rows if row.startswith(("| S |", "| L |"))]
    assert len(single) == 6 and len(step) == 2
    for row in step:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert all(" / " in cell for cell in cells[1:]), row

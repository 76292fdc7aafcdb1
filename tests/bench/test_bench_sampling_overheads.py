"""bench/sampling_overheads.py still runs: the plain loop gives the processors' own result, and every row is timed.

One round; the speed figures themselves are never asserted.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sampling_overheads_benchmark_runs(tmp_path):
    command = [sys.executable, os.path.join(ROOT, "bench", "sampling_overheads.py"), "--rounds", "1", "--threads", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7
    assert sum("LogitsProcessorList" in row for row in rows) == 2
    assert sum("stop tests of a whole generation" in row for row in rows) == 4

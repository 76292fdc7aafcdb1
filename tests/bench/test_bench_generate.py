"""bench/generate.py still runs and still checks what it claims: our loop's ids equal Llama.generate's.

A smoke run (model S, 16 new tokens, one round); the speed figures themselves are never asserted.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quick_generation_benchmark_runs_and_reports_identical_ids(tmp_path):
    table = tmp_path / "table.md"
    command = [sys.executable, os.path.join(ROOT, "bench", "generate.py"), "--quick", "--models", "S",
               "--dtypes", "float32", "--batches", "1", "--threads", "1", "--output", str(table)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in table.read_text().splitlines() if line.startswith("| S |")]
    methods = [row.split(" | ")[3] for row in rows]
    expected = ["ours", "ours, F.linear products", "Llama.generate", "TinyLM.generate"]
    assert [name for name in methods if name != "ours before (054b6e6)"] == expected
    assert all(row.split(" | ")[8] == "yes" for row in rows)

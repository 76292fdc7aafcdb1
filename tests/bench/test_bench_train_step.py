"""bench/train_step.py still runs: every row steps, reports a peak, and starts from the same loss (same weights).

A smoke run (a tiny model, two timed steps); the speed and memory figures themselves are never asserted.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_quick_train_step_benchmark_runs_and_starts_every_row_from_the_same_loss(tmp_path):
    table = tmp_path / "table.md"
    command = [sys.executable, os.path.join(ROOT, "bench", "train_step.py"), "--quick", "--logits-path",
               "--threads", "1", "--output", str(table)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split(" | ") for line in table.read_text().splitlines() if line.startswith("| ") and "---" not in line]
    assert [row[0] for row in rows[1:]] == ["| TinyLM", "| TinyLM, logits path", "| Llama"]
    first_losses = [float(row[-1].rstrip(" |")) for row in rows[1:]]
    assert max(first_losses) - min(first_losses) < 1e-4 * first_losses[0]
    assert rows[-1][8:11] == ["1.00", "1.00", "1.00"]  # Llama against itself

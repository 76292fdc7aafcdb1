"""Shared pytest setup: make test helpers (fake_hub, model factories) importable and keep runs offline."""

import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
# Test helpers import by bare name; the project's packages import from the checkout even without an install.
for path in (TESTS_DIR, REPO_ROOT):  # the checkout ends up first: tests/hf_tinylm must not shadow hf_tinylm
    if path not in sys.path:
        sys.path.insert(0, path)

# Nothing in the test suite may reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    import torch

    torch.manual_seed(0)
    yield

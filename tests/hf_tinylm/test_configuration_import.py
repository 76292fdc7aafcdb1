"""Config modules import without the modeling code, as transformers loads them from a saved folder."""

import shutil
import subprocess
import sys
from pathlib import Path

import hf_tinylm.modeling

MODELING_DIR = Path(hf_tinylm.modeling.__file__).parent
CONFIG_MODULES = [path.stem for path in sorted(MODELING_DIR.glob("configuration_*.py"))]
# Files whose import means the nn.Module code came along.
MODELING_MODULES = [
    path.stem for path in MODELING_DIR.glob("*.py")
    if not path.stem.startswith("configuration_") and path.stem not in ("__init__", "component_registry", "validation")
]


def test_every_config_module_imports_without_the_modeling_files(tmp_path):
    # A flat copy, like the folder transformers makes next to saved weights.
    package = tmp_path / "flat_copy"
    package.mkdir()
    for source in MODELING_DIR.glob("*.py"):
        shutil.copy(source, package / source.name)
    (package / "__init__.py").write_text("")
    script = (
        "import importlib, sys\n"
        f"for name in {CONFIG_MODULES!r}:\n"
        "    importlib.import_module('flat_copy.' + name)\n"
        f"loaded = sorted(m for m in {MODELING_MODULES!r} if 'flat_copy.' + m in sys.modules)\n"
        "print(loaded)\n"
        "assert not loaded, loaded\n"
        "assert 'hf_tinylm' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(CONFIG_MODULES) >= 5 and "modeling_tinylm" in MODELING_MODULES


def test_nan_and_infinity_are_refused_by_every_config():
    from hf_tinylm import TinyLMByteConfig, TinyLMConfig, TinyLMNextThoughtConfig

    for config_class in (TinyLMConfig, TinyLMByteConfig, TinyLMNextThoughtConfig):
        for field in ("dropout", "initializer_range", "rms_norm_eps"):
            for value in (float("nan"), float("inf")):
                try:
                    config_class(**{field: value})
                except ValueError as error:
                    assert field in str(error) and "finite" in str(error), (config_class.__name__, str(error))
                else:
                    raise AssertionError(f"{config_class.__name__}({field}={value}) was accepted")

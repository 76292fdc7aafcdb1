"""``python -m tinylm_cli ...`` (and ``torchrun ... -m tinylm_cli ...``) runs the ``tinylm`` command."""

import sys

from .main import main

sys.exit(main())

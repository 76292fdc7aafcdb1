"""The ``tinylm`` command: one dispatcher over the subcommands of every package.

It sits above the other packages: it may import ``hf_tinylm``, ``tokenizers_ext``, ``conversion`` and
``experimental``, and none of them imports it. Each package keeps its own ``add_*_subparser`` in its own
``cli.py``; ``tinylm_cli.main`` wires them in and imports one only when its subcommand is on the command line,
so ``tinylm --help`` starts without torch or transformers.
"""

"""sievit: an open FPGA/ML co-design flow for Vision Transformers with hardware token
pruning. The Python API is in `sievit.api`; the command line is `sievit` (sievit.cli)."""

__version__ = "0.1.0"

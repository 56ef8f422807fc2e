"""sievit.rtl: the SystemVerilog accelerator (the .sv files beside this module, package data)
and its Python: the program generator (`program`), the file manifest (`manifest`), cosim,
Yosys synthesis, the register map, IP packaging and the host driver."""

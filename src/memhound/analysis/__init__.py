"""Pure functions of saved data: no live process, no I/O."""

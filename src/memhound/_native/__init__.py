"""memhound's C allocation engine (``_alloc.c``); see ``memhound.alloc.native``."""

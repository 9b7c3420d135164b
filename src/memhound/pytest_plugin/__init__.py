"""The pytest plugin: markers that fail a test on memory over a limit, on leaks and on leaked
resources. ``plugin`` holds the hooks (inert until a marker is used), ``checks`` the markers."""

import gc

#: Objects already frozen (``gc.freeze``) when pytest loads the plugin, before any test code:
#: the interpreter's own (375 static tuples on CPython 3.12.1, none on 3.11 and 3.13). no_leaks
#: freezes the heap while it measures only when nothing more is frozen, since thawing it
#: afterwards thaws everything, a program's own frozen objects included.
FROZEN_AT_START = gc.get_freeze_count()

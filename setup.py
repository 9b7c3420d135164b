"""Build the C extensions; everything else about the package is in pyproject.toml.

The extensions are optional: where one cannot be compiled, memhound installs without it and
``memhound.profile`` falls back to its tracemalloc engine (which says what it cannot measure),
``memhound.snapshot`` to its pure-Python walker, and the heap analysis to numpy and igraph.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "memhound._native._alloc",
            sources=["src/memhound/_native/_alloc.c"],
            optional=True,
        ),
        Extension(
            "memhound._native._heapwalk",
            sources=["src/memhound/_native/_heapwalk.c"],
            optional=True,
        ),
    ]
)

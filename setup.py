"""Build the one C extension; everything else about the package is in pyproject.toml.

The extension is optional: where it cannot be compiled, memhound installs without it and
``memhound.profile`` falls back to its tracemalloc engine (which says what it cannot measure).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "memhound._native._alloc",
            sources=["src/memhound/_native/_alloc.c"],
            optional=True,
        )
    ]
)

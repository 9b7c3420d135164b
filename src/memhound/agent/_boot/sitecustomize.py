"""Started by Python at start-up because ``memhound run`` put this folder on PYTHONPATH.

Starts memhound's agent, then runs the ``sitecustomize`` the program would have run without
memhound (if any), so that nothing the user configured is lost.
"""


def _memhound_boot() -> None:
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        import _memhound_agent  # type: ignore[import-not-found]

        _memhound_agent.start()
    except Exception as exc:  # never break the program we observe
        sys.stderr.write(f"memhound: agent not started: {exc!r}\n")

    # Chain to the next sitecustomize on the path, the way site.py runs one: whatever it does
    # to sys.path stays as it did it (only this folder is taken out meanwhile, then put back
    # before the entry it preceded), and its errors are reported by site.py as usual.
    ours = sys.modules.pop("sitecustomize", None)
    mine = [i for i, p in enumerate(sys.path) if os.path.abspath(p or ".") == here]
    after = sys.path[mine[0] + 1] if mine and mine[0] + 1 < len(sys.path) else None
    for i in reversed(mine):
        del sys.path[i]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401  (the user's)
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise  # an error inside the user's file: site.py says so, as without memhound
        if ours is not None:
            sys.modules["sitecustomize"] = ours
    finally:
        if mine:
            at = sys.path.index(after) if after in sys.path else len(sys.path)
            sys.path.insert(at, here)


_memhound_boot()
del _memhound_boot

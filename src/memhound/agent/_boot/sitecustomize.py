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

    # Chain to the next sitecustomize on the path.
    ours = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401  (the user's)
    except ImportError:
        if ours is not None:
            sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = saved + [p for p in sys.path if p not in saved]


_memhound_boot()
del _memhound_boot

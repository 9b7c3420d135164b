"""agent/contract.py and the agent's own copies of it (``_boot/``, standard library only) agree,
and the rest of memhound names its environment variables through the contract."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from memhound.agent import contract

PKG = Path(__file__).resolve().parents[2] / "src" / "memhound"
BOOT = sorted((PKG / "agent" / "_boot").glob("*.py"))
CONTRACT = PKG / "agent" / "contract.py"
NAME = re.compile(r"MEMHOUND_[A-Z0-9_]+")


def constants(module: object) -> dict[str, str]:
    return {k: v for k, v in vars(module).items() if k.startswith("ENV_") and isinstance(v, str)}


def boot_constants() -> dict[str, str]:
    """The ``ENV_* = "..."`` assignments of the boot files."""
    out: dict[str, str] = {}
    for path in BOOT:
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith("ENV_")
                and isinstance(node.value, ast.Constant)
            ):
                out[node.targets[0].id] = node.value.value
    return out


def names_used_in_memhound() -> set[str]:
    """Contract names the package (outside the contract and the boot folder) refers to."""
    used: set[str] = set()
    for path in PKG.rglob("*.py"):
        if path == CONTRACT or "_boot" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "contract":
                    used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "memhound.agent.contract":
                used.update(a.name for a in node.names)
    return used


def test_every_name_the_agent_uses_is_in_the_contract() -> None:
    values = set(constants(contract).values())
    in_boot = {m for path in BOOT for m in NAME.findall(path.read_text())}
    assert in_boot, "the boot files name no variable: is the pattern right?"
    assert in_boot <= values, f"not in agent/contract.py: {sorted(in_boot - values)}"


def test_the_agent_and_the_contract_give_a_name_the_same_value() -> None:
    ours = constants(contract)
    theirs = boot_constants()
    assert theirs, "no ENV_ constant found in the boot files"
    differ = {k: (v, ours.get(k)) for k, v in theirs.items() if ours.get(k) != v}
    assert not differ, f"boot value vs contract value: {differ}"


def test_every_contract_name_is_used() -> None:
    """By the agent or by memhound (a name the contract re-exports is used in its home)."""
    reexported = {
        a.name
        for node in ast.parse(CONTRACT.read_text()).body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    used = names_used_in_memhound() | reexported | set(boot_constants())
    unused = set(constants(contract)) - used
    assert not unused, f"in agent/contract.py but used by no one: {sorted(unused)}"


def test_memhound_names_its_variables_through_the_contract() -> None:
    """A ``"MEMHOUND_..."`` literal elsewhere in the package would be a second definition
    (the C extensions' own switch lives in ``_native``; the contract re-exports it)."""
    homes = {CONTRACT, PKG / "_native" / "__init__.py"}
    found = []
    for path in PKG.rglob("*.py"):
        if path in homes or "_boot" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and NAME.fullmatch(node.value)
            ):
                found.append(f"{path.relative_to(PKG)}:{node.lineno} {node.value}")
    assert not found, "\n".join(found)


def test_every_kind_the_agent_sends_is_in_the_contract() -> None:
    sent = set()
    for path in BOOT:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "kind"
                        and isinstance(value, ast.Constant)
                    ):
                        sent.add(value.value)
    assert sent == contract.KINDS


@pytest.mark.parametrize(
    "value", [None, "", "12", "41", "SIGUSR2", "SIGRTMIN", "usr2", "USR2", "SIGNOPE"]
)
def test_a_signal_is_read_as_the_agent_reads_it(value: str | None) -> None:
    """What memhound sends must be what the agent listens for: a signal it has no handler
    for would end the program (a real-time signal's default action)."""
    from memhound import agent

    assert contract.parse_signal(value) == agent.load()._signal_number(value)


def test_signals_are_written_as_numbers() -> None:
    import signal

    assert contract.signal_value(signal.SIGUSR2) == str(int(signal.SIGUSR2))
    rt = int(signal.SIGRTMIN) + 7  # soak's: a real-time signal has no name to write
    assert contract.parse_signal(contract.signal_value(rt)) == rt

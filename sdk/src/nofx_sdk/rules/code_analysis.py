"""Static checks of scripts a package carries. Nothing in a package ever runs in the control plane; these
catch helper scripts that would hurt whoever runs them (developers' CI, customers' hosts)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

EXECUTABLE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyc",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".bat",
        ".cmd",
        ".exe",
        ".dll",
        ".so",
        ".dylib",
        ".jar",
        ".class",
        ".wasm",
        ".bin",
        ".rb",
        ".php",
        ".pl",
    }
)
_MAGIC = (b"\x7fELF", b"MZ", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\x00asm")

_DANGEROUS_NAMES = {"eval", "exec", "compile", "__import__"}
_DANGEROUS_ATTRS = {
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "execve"),
    ("os", "execl"),
    ("os", "spawnl"),
    ("pickle", "load"),
    ("pickle", "loads"),
    ("marshal", "loads"),
}
_SHELL_PATTERNS = [
    (re.compile(r"\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b"), "pipes a download into a shell"),
    (re.compile(r"\brm\s+-[a-zA-Z]*r[a-zA-Z]*f?\s+/(?:\s|$)"), "deletes the root file system"),
    (re.compile(r"/dev/tcp/"), "opens a raw network connection (reverse shell pattern)"),
    (re.compile(r"\bbase64\s+(?:-d|--decode)\b[^|\n]*\|\s*(?:ba)?sh\b"), "runs decoded, hidden commands"),
]
_JS_PATTERNS = [
    (re.compile(r"\beval\s*\("), "calls eval()"),
    (re.compile(r"\bnew\s+Function\s*\("), "builds code from a string with new Function()"),
    (re.compile(r"""require\(\s*["']child_process["']\s*\)|from\s+["']child_process["']"""), "starts processes"),
]


def is_executable(name: str, head: bytes) -> bool:
    return PurePosixPath(name).suffix.lower() in EXECUTABLE_SUFFIXES or head.startswith(_MAGIC)


def _python(text: str) -> Iterator[tuple[int, str]]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _DANGEROUS_NAMES:
            yield node.lineno, f"calls {func.id}()"
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            pair = (func.value.id, func.attr)
            if pair in _DANGEROUS_ATTRS:
                yield node.lineno, f"calls {pair[0]}.{pair[1]}()"
            elif func.value.id == "subprocess" and any(
                kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                for kw in node.keywords
            ):
                yield node.lineno, f"calls subprocess.{func.attr}() with shell=True"


def _by_pattern(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in patterns:
            if pattern.search(line):
                yield number, what


def dangerous_calls(name: str, text: str) -> Iterator[tuple[int, str]]:
    """(line, what it does) for each dangerous construct in a script, by the script's language."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".py" or text.startswith("#!/usr/bin/env python"):
        yield from _python(text)
    elif suffix in (".js", ".mjs", ".cjs", ".ts"):
        yield from _by_pattern(text, _JS_PATTERNS)
    elif suffix in (".sh", ".bash", ".zsh") or text.startswith("#!"):
        yield from _by_pattern(text, _SHELL_PATTERNS)

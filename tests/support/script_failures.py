"""The failure exits of the backup scripts, read from their text, and the failure lines that name them.

Every way a script of components/data/scripts/ ends with a failure goes through one of four calls:
  fail "<message>"             the script's own check ("<script>: FAILED at <step>: <message>", exit 1)
  require <VAR> "<meaning>"    a required variable is unset ("environment variable <VAR> is not set: ...")
  aws_call "<what>" <args...>  an aws CLI call failed ("<what>: <the likely cause and the CLI's words>")
  report_failure "<message>"   the exit trap's line for an error no check caught ("unexpected error ...")
`call_sites()` finds each call in the scripts and their library, with a regular expression for the
failure line it prints: its literal words as they are, each expansion (`$var`, `${...}`, `$(...)`) as
"anything", and the relay of the other container's failure line as exactly such a line. The fault tests
(tests/components/data/test_backup_faults.py) hold a table of these call sites and check, per test,
which of them its runs reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Final

import pytest

from components.data import backup_contract as contract

SCRIPT_NAMES: Final = tuple(script.removesuffix(".sh") for script in contract.SCRIPTS)
"""What each script calls itself in its failure lines (its SCRIPT)."""
FAILURE_LINE: Final = re.compile(rf"(?P<script>{'|'.join(SCRIPT_NAMES)}): FAILED at (?P<step>[^:]+): (?P<message>.*)")
RELAYED = rf"(?:{'|'.join(SCRIPT_NAMES)}): FAILED at [^:]+: .*"
"""A failure line of another script, relayed in this one's message (the partner container's marker)."""
CALL_FAILED: Final = pytest.StashKey[bool]()
"""Set on a test item whose call failed (tests/components/data/conftest.py), so that a check after it stays quiet."""
LITERAL_CHARACTERS_TO_TELL_APART: Final = 12
"""A message with fewer literal characters than this (mostly expansions) is not checked for ambiguity."""

_CALL = re.compile(r"(?<![\w-])(?P<kind>fail|require|aws_call|report_failure)[ \t]+(?P<rest>\S.*)")
_REQUIRE = re.compile(r"(?P<variable>[A-Z][A-Z0-9_]*)[ \t]+\"")


@dataclass(frozen=True)
class FailureLine:
    script: str
    """The script's own name, without .sh."""
    step: str
    message: str


def failure_lines(stderr: str) -> list[FailureLine]:
    """The `<script>: FAILED at <step>: <message>` lines of a script's standard error."""
    found = []
    for line in stderr.splitlines():
        match = FAILURE_LINE.fullmatch(line)
        if match:
            found.append(FailureLine(match["script"], match["step"], match["message"]))
    return found


@dataclass(frozen=True)
class CallSite:
    """One failure exit of one script: where it is, and the message it prints."""

    script: str
    """The file it is in: a script, or the library (backup-common.sh), whose calls any script may reach."""
    call: str
    """The call as the script spells it, up to its message: `fail "..."`, `require VAR`, `aws_call "..."`."""
    line: int
    pattern: str
    """A regular expression for the message of its failure line (after `FAILED at <step>: `)."""
    literal_characters: int
    function: str | None = None
    """The shell function it is in, if any."""

    @property
    def mechanism(self) -> bool:
        """Whether it is the fail inside `require` or `aws_call` itself, whose message is its caller's: each
        call of those is a call site of its own, with that caller's words."""
        return self.function in ("require", "aws_call")

    @property
    def key(self) -> tuple[str, str]:
        return self.script, self.call

    def reached_by(self, failure: FailureLine) -> bool:
        """Whether `failure` is this call's line: from this script (any, for the library's), this message."""
        if self.script != contract.LIBRARY and failure.script != self.script.removesuffix(".sh"):
            return False
        return re.fullmatch(self.pattern, failure.message, re.DOTALL) is not None

    def example(self) -> str:
        """The message with every expansion replaced by `X`: for telling call sites apart."""
        return re.sub(r"\(\?:[^)]*\)\.\*|\.\*\??", "X", self.pattern).replace("\\", "")


def _read_expansion(text: str, start: int) -> int:
    """The index after the expansion that starts with `$` at `start`: $name, $1, $@, ${...} or $(...)."""
    opener = text[start + 1 : start + 2]
    if opener in ("(", "{"):
        closer = ")" if opener == "(" else "}"
        depth, index, quote = 0, start + 1, ""
        while index < len(text):
            character = text[index]
            if character == "\\":
                index += 2
                continue
            if quote:
                if character == quote:
                    quote = ""
            elif character in "\"'" and opener == "(":
                quote = character
            elif character == opener:
                depth += 1
            elif character == closer:
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        raise ValueError(f"unterminated expansion in {text!r}")
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@#?*!$-]", text[start + 1 :])
    if match is None:
        return start + 1  # a lone `$` is literal
    return start + 1 + match.end()


def _double_quoted(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The double-quoted word at the start of `text`: its source, and its parts as (kind, text) pairs, kind
    `literal` or `expansion`."""
    if not text.startswith('"'):
        raise ValueError(f"expected a double-quoted message: {text!r}")
    parts: list[tuple[str, str]] = []
    index, literal = 1, ""
    while index < len(text):
        character = text[index]
        if character == '"':
            if literal:
                parts.append(("literal", literal))
            return text[: index + 1], parts
        if character == "\\" and index + 1 < len(text):
            following = text[index + 1]
            literal += following if following in '$`"\\' else character + following
            index += 2
            continue
        if character == "$":
            end = _read_expansion(text, index)
            if end == index + 1:
                literal += "$"
            else:
                if literal:
                    parts.append(("literal", literal))
                    literal = ""
                parts.append(("expansion", text[index:end]))
            index = end
            continue
        literal += character
        index += 1
    raise ValueError(f"unterminated message: {text!r}")


def _pattern(parts: Iterable[tuple[str, str]]) -> tuple[str, int]:
    pattern, literal_characters = "", 0
    for kind, text in parts:
        if kind == "literal":
            pattern += re.escape(text)
            literal_characters += len(text)
        elif re.fullmatch(r'\$\(one_line "\$[a-z_]*failed"\)', text):
            pattern += RELAYED
        else:
            pattern += ".*?"
    return pattern, literal_characters


_FUNCTION = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\(\)\s*\{")


def _code_lines(text: str) -> Iterable[tuple[int, str, str | None]]:
    """(line number, line, the function it is in) of every line that is not a comment."""
    function = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        definition = _FUNCTION.match(line)
        if definition:
            function = definition["name"]
        elif line.startswith("}"):
            function = None
        yield number, line, function


def _call_sites_of(script: str, text: str) -> list[CallSite]:
    sites = []
    for number, line, function in _code_lines(text):
        for match in _CALL.finditer(line):
            kind, rest = match["kind"], match["rest"]
            if rest.startswith("()"):
                continue  # the function's own definition
            if kind == "require":
                required = _REQUIRE.match(rest)
                if required is None:
                    raise ValueError(f"{script}:{number}: require needs a VARIABLE and a quoted meaning: {line!r}")
                _, parts = _double_quoted(rest[required.end() - 1 :])
                meaning, literal_characters = _pattern(parts)
                variable = required["variable"]
                prefix = f"environment variable {variable} is not set: "
                sites.append(
                    CallSite(
                        script,
                        f"require {variable}",
                        number,
                        re.escape(prefix) + meaning,
                        len(prefix) + literal_characters,
                        function,
                    )
                )
                continue
            source, parts = _double_quoted(rest)
            if source == '"$@"':
                continue  # a function passing its caller's message on (fail to report_failure)
            pattern, literal_characters = _pattern(parts)
            if kind == "aws_call":
                pattern += ": .*"
            sites.append(CallSite(script, f"{kind} {source}", number, pattern, literal_characters, function))
    return sites


@cache
def call_sites() -> tuple[CallSite, ...]:
    """Every failure exit of the scripts and their library, in file and line order."""
    sites: list[CallSite] = []
    for script in (contract.LIBRARY, *contract.SCRIPTS):
        sites += _call_sites_of(script, contract.script_text(script))
    return tuple(sites)


def indistinguishable(sites: Iterable[CallSite]) -> list[tuple[CallSite, CallSite]]:
    """Pairs of call sites of one file whose lines could be taken for each other's: the second's pattern matches
    the first's message (expansions as `X`). Not checked: messages with too few literal words to tell apart,
    and the mechanisms of require and aws_call (their call sites are told apart instead)."""
    distinct = [
        site for site in sites if site.literal_characters >= LITERAL_CHARACTERS_TO_TELL_APART and not site.mechanism
    ]
    pairs = []
    for first in distinct:
        for second in distinct:
            same_file = first is not second and first.script == second.script
            if same_file and re.fullmatch(second.pattern, first.example(), re.DOTALL):
                pairs.append((first, second))
    return pairs

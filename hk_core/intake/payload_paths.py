"""Places in a vendor's JSON payload, as the lead webhooks file names them.

A path is a JSON pointer (``/lead/contact/email``, RFC 6901) or a dotted path
(``lead.contact.email``); a dotted step may index a list (``answers.0``) or pick the first
element whose key equals a value (``answers[ref=email]``), the shape form builders send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]=]+)=([^\]]*)\]|(\.)")


class PathError(ValueError):
    """A path that cannot be read as a JSON pointer or a dotted path."""


@dataclass(frozen=True, slots=True)
class PayloadPath:
    """A place in a vendor's payload; ``text`` is how the file (and error bodies) name it."""

    text: str
    steps: tuple[str | int | tuple[str, str], ...]

    @classmethod
    def parse(cls, text: Any) -> PayloadPath:
        if not isinstance(text, str) or not text.strip():
            raise PathError("a path must be a non-empty string")
        if text.startswith("/"):
            return cls(text, tuple(_pointer_token(t) for t in text[1:].split("/")))
        steps: list[str | int | tuple[str, str]] = []
        position, expect_step = 0, True
        for match in _STEP.finditer(text):
            if match.start() != position:
                break
            position = match.end()
            name, index, key, value, dot = match.groups()
            if dot:
                if expect_step:
                    raise PathError(f"empty step at character {match.start() + 1} of {text!r}")
                expect_step = True
                continue
            if name is not None and not expect_step:
                raise PathError(f"missing '.' before {name!r} in {text!r}")
            expect_step = False
            if name is not None:
                steps.append(int(name) if name.isdigit() else name)
            elif index is not None:
                steps.append(int(index))
            else:
                steps.append((key, value))
        if position != len(text) or expect_step:
            raise PathError(f"not a dotted path or JSON pointer: {text!r}")
        return cls(text, tuple(steps))

    def find(self, payload: Any) -> tuple[bool, Any]:
        """(found, value) at this place in ``payload``."""
        node = payload
        for step in self.steps:
            if isinstance(step, tuple):
                key, wanted = step
                if not isinstance(node, list):
                    return False, None
                node = next(
                    (
                        item
                        for item in node
                        if isinstance(item, dict) and str(item.get(key)) == wanted
                    ),
                    _MISSING,
                )
            elif isinstance(node, dict):
                node = node.get(str(step), _MISSING)
            elif isinstance(node, list) and isinstance(step, int):
                node = node[step] if step < len(node) else _MISSING
            else:
                return False, None
            if node is _MISSING:
                return False, None
        return True, node


_MISSING = object()


def _pointer_token(token: str) -> str | int:
    if "~" in token.replace("~0", "").replace("~1", ""):
        raise PathError(f"bad escape in JSON pointer token {token!r} (only ~0 and ~1)")
    text = token.replace("~1", "/").replace("~0", "~")
    return int(text) if text.isdigit() else text

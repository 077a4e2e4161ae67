"""The sandbox's table of known field names is Intuit's XSD, nothing more and nothing less.

`providers/quickbooks/sandbox/_fields.py` is generated from the XSDs in `tests/specs/quickbooks`
(the sandbox cannot read `tests/`: an installed syncdesk has none). This test derives the table
again and compares; after a spec update, regenerate it with
`python -m tests.providers.quickbooks.test_qbo_fields`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import xmlschema

from providers.quickbooks.sandbox import _fields
from tests.providers._support import spec

TARGET = Path(_fields.__file__)


def derive(schema: Any) -> dict[str, dict[str, str | None]]:
    """Type → {field: its type, or None for a plain value}, from the roots' types down.

    As QBO's JSON writes them: XSD attributes are keys like elements, and a simple-content
    type (a reference) carries its text as `value`."""
    types: dict[str, dict[str, str | None]] = {}

    def walk(xsd_type: Any) -> str:
        name = str(xsd_type.local_name)
        if name in types:
            return name
        fields: dict[str, str | None] = {}
        types[name] = fields
        for attribute in xsd_type.attributes:
            fields[str(attribute).split("}")[-1]] = None
        content = xsd_type.content
        if hasattr(content, "iter_elements"):
            for element in content.iter_elements():
                if element.local_name is None:
                    continue  # a wildcard (`IntuitAnyType`): nothing syncdesk sends
                child = element.type
                fields[element.local_name] = (walk(child) if child is not None
                                              and child.is_complex() else None)
        if xsd_type.has_simple_content():
            fields["value"] = None
        return name

    for name in _fields.ROOTS:
        # Each writable entity's element has a type of the same name.
        assert walk(schema.elements[name].type) == name
    return types


def render(types: dict[str, dict[str, str | None]]) -> str:
    out = [f'"""{_fields.__doc__}"""', "", "from __future__ import annotations", "",
           f"ROOTS = ({', '.join(map(json.dumps, _fields.ROOTS))})", "",
           "TYPES: dict[str, dict[str, str | None]] = {"]
    for name in sorted(types):
        pairs = ", ".join(f"{json.dumps(field)}: {json.dumps(child)}".replace("null", "None")
                          for field, child in types[name].items())
        out.append(f"    {json.dumps(name)}: {{")
        out.extend(textwrap.wrap(pairs, 95, initial_indent="        ",
                                 subsequent_indent="        "))
        out.append("    },")
    out.append("}")
    return "\n".join(out) + "\n"


def _schema() -> Any:
    return xmlschema.XMLSchema(str(spec("quickbooks/IntuitRestServiceDef.xsd")))


def test_the_sandbox_knows_exactly_the_xsd_fields() -> None:
    types = derive(_schema())
    assert types == _fields.TYPES
    assert TARGET.read_text() == render(types)


if __name__ == "__main__":
    TARGET.write_text(render(derive(_schema())))

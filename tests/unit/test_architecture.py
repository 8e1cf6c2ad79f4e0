"""Rules a linter cannot express: routes reach the gateway only through `api/deps.py`.

ruff's banned-api rule (TID251) bans imports, not attribute access on a parameter, and
import-linter checks imports only; so this test reads the source. It fails on any
`request.app`, any `.app.state` and any `app.state.<name>` other than `gateway`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import annas_gift

PACKAGE = Path(annas_gift.__file__).parent
# The two places that own app.state: the factory that sets it, the dependencies that read it.
OWNERS = {PACKAGE / "api" / "app.py", PACKAGE / "api" / "deps.py"}


def _violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        inner = node.value
        if node.attr == "app" and isinstance(inner, ast.Name) and inner.id == "request":
            found.append(f"{path.name}:{node.lineno}: request.app")
        elif node.attr == "state" and isinstance(inner, ast.Attribute) and inner.attr == "app":
            found.append(f"{path.name}:{node.lineno}: .app.state")
        elif (
            isinstance(inner, ast.Attribute)
            and inner.attr == "state"
            and isinstance(inner.value, ast.Name)
            and inner.value.id == "app"
            and node.attr != "gateway"
        ):
            found.append(f"{path.name}:{node.lineno}: app.state.{node.attr}")
    return found


def test_only_deps_and_the_factory_touch_app_state() -> None:
    offenders = [
        v for path in sorted(PACKAGE.rglob("*.py")) if path not in OWNERS for v in _violations(path)
    ]
    assert offenders == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    # The rule above must be able to fail: a route reading app.state directly is caught.
    sample = tmp_path / "route.py"
    sample.write_text(
        "async def f(request, app):\n    return request.app.state.chat, app.state.tracker\n"
    )
    assert sorted(_violations(sample)) == [
        "route.py:2: .app.state",
        "route.py:2: app.state.tracker",
        "route.py:2: request.app",
    ]

"""
The test tree's own rule: a test file never imports another test file or a conftest. What
tests share lives in tests/common/ (plain modules) or in a conftest.py as fixtures, so a
test file can be read, run, moved or deleted on its own.
"""

import ast

from tests.common.paths import REPO

TESTS = REPO / "tests"


def is_test_or_conftest(module):
    """True for a dotted module name whose last part is a test file or a conftest."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def imported_modules(tree, package):
    """
    Every module a parsed file imports, anywhere in it (inside functions too), dotted and
    absolute: ``import a.b``, ``from a import b`` (``a`` and ``a.b``, as ``b`` may be a
    module), relative imports resolved against ``package``, and ``__import__("a.b")`` or
    ``importlib.import_module("a.b")`` with a literal name.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if name in ("__import__", "import_module") and isinstance(first, ast.Constant):
                yield node.lineno, str(first.value)


def cross_imports(root):
    """``path:line imports module`` for each test file under ``root`` that breaks the rule."""
    found = []
    for path in sorted(root.rglob("test_*.py")):
        relative = path.relative_to(root.parent)
        package = ".".join(relative.parent.parts)
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, module in imported_modules(tree, package):
            if is_test_or_conftest(module):
                found.append(f"{relative}:{lineno} imports {module}")
    return found


def test_no_test_file_imports_another_test_file_or_a_conftest():
    found = cross_imports(TESTS)
    assert not found, "share through tests/common/ or a conftest fixture:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_import(tmp_path):
    """The check itself: each form below is caught, an ordinary import is not."""
    unit = tmp_path / "tests" / "unit"
    unit.mkdir(parents=True)
    (unit / "test_a.py").write_text(
        "import os\n"
        "from tests.common.fake_hub import FakeHub\n"
        "from tests.unit.test_b import helper\n"
        "from tests.unit import test_c\n"
        "from . import conftest\n"
        "from .test_d import thing\n"
        "def test_x():\n"
        "    from tests.conftest import REPO\n"
        "    __import__('tests.unit.test_e')\n"
    )
    found = [line.split(" imports ")[1] for line in cross_imports(tmp_path / "tests")]
    assert found == [
        "tests.unit.test_b",
        "tests.unit.test_c",
        "tests.unit.conftest",
        "tests.unit.test_d",
        "tests.conftest",
        "tests.unit.test_e",
    ]


def test_helpers_live_in_tests_common():
    """A module under tests/ that is neither a test file nor a conftest is a shared helper."""
    stray = [
        str(path.relative_to(REPO))
        for path in sorted(TESTS.rglob("*.py"))
        if not is_test_or_conftest(path.stem)
        and path.name != "__init__.py"
        and TESTS / "common" not in path.parents
    ]
    assert stray == [], "move shared helpers to tests/common/"

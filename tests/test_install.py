"""The environment: pinned, consistent, and `make setup` idempotent."""
import subprocess
import sys
import tomllib

from lab.provenance import REPO_ROOT


def test_every_dependency_is_pinned():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert requirements and all("==" in r for r in requirements), [r for r in requirements if "==" not in r]


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_setup_is_a_no_op_when_nothing_changed():
    # `make -q` exits 0 only when the target is up to date, i.e. a second `make setup` would do nothing
    result = subprocess.run(["make", "-q", "setup"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "make setup would rebuild .venv although pyproject.toml did not change"

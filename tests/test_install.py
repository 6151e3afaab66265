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


def test_git_commit_is_dirty_for_code_changes_but_not_for_rewritten_results(tmp_path):
    from lab.provenance import git_commit

    git = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "results" / "table.csv").write_text("a\n1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    head = git("rev-parse", "HEAD").stdout.strip()
    (tmp_path / "results" / "table.csv").write_text("a\n2\n")  # a reproduction rewrote the committed results
    assert git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "-dirty"

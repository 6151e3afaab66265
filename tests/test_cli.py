"""The command lines answer ``--help`` and reject a bad parameter before TensorFlow is imported (in well under a
second, not the seconds TensorFlow takes): checked by what the command imports (``python -X importtime``), not by
a clock."""
import os
import re
import subprocess
import sys

import pytest

from lab.provenance import REPO_ROOT

# (command line after `python -m`, exit status, what it must say)
COMMANDS = [
    ("lab.train --help", 0, r"--preset \{smoke,cpu,cpu-long,cpu-wide,imagenette,imagenet\}"),
    ("lab.train --preset laptop --model birealnet", 2, r"argument --preset: invalid choice: 'laptop'"),
    ("lab.train --model resnet", 2, r"model: must be one of \('xnornet'"),
    ("lab.train --model birealnet --set epoch=2", 2, r"--set: unknown training parameters \['epoch'\]"),
    ("lab.reproduce --help", 0, r"(?s)--keep-stale.*--plan"),
    ("lab.reproduce --preset laptop --plan", 2, r"lab.reproduce: error: preset: must be one of \('smoke'"),
    ("lab.reproduce --preset laptop", 2, r"lab.reproduce: error: preset: must be one of \('smoke'"),
    ("lab.reproduce --preset smoke --jobs 0", 2, r"lab.reproduce: error: jobs: must be an integer >= 1, got 0"),
    ("lab.reproduce --preset smoke --only nope", 2, r"lab.reproduce: error: only: unknown notebooks \['nope'\]"),
    ("lab.bench gpu --help", 0, r"--steps STEPS"),
]


def imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reports as imported."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command, status, says", COMMANDS, ids=[c for c, _, _ in COMMANDS])
def test_command_line_answers_without_tensorflow(tmp_path, command, status, says):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", *command.split()], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LAB_RESULTS": str(tmp_path / "results")})
    said = done.stdout + "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
    assert done.returncode == status, said[-3000:]
    assert re.search(says, said), said[-3000:]
    modules = imported(done.stderr)
    assert "lab.presets" in modules  # the check ran (and importtime reported it)
    assert not {m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "larq")}, "imported TensorFlow"
    assert not (tmp_path / "results").exists()

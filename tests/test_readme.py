"""The README's code runs as printed."""
import re

from lab.provenance import REPO_ROOT


def readme_block(heading: str) -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_lab_example_runs():
    exec(compile(readme_block("The LAB binarizer"), "README.md", "exec"), {})

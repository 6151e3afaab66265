"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """An empty results root under tmp_path, also exported as $LAB_RESULTS (so nothing lands in results/)."""
    root = tmp_path / "results"
    monkeypatch.setenv("LAB_RESULTS", str(root))
    return root

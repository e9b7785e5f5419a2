import pytest


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite database file in a temporary folder."""
    return f"sqlite:///{tmp_path / 'zoomtune.db'}"

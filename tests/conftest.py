import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite database file in a temporary folder."""
    return f"sqlite:///{tmp_path / 'zoomtune.db'}"

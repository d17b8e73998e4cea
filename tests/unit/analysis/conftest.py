"""Fixtures of the analysis tests (helpers live in analysis_fixtures.py: pytest imports every
folder's conftest.py under the one name 'conftest', so tests never import from it)."""
from analysis_fixtures import skewed_root, tiny_config  # noqa: F401

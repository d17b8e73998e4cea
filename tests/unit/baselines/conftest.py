"""Fixtures of the baseline tests (helpers live in baseline_fixtures.py: pytest imports every
folder's conftest.py under the one name 'conftest', so tests never import from it)."""
from baseline_fixtures import tiny_config, tiny_root  # noqa: F401

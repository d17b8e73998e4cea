"""Fixtures of the model tests (helpers live in model_fixtures.py: pytest imports every
folder's conftest.py under the one name 'conftest', so tests never import from it)."""
from model_fixtures import tiny_root  # noqa: F401

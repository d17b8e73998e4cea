"""Fixtures of the tests of the original code's artefacts (helpers live in original_fixtures.py:
pytest imports every folder's conftest.py under the one name 'conftest', so tests never import from it)."""
from original_fixtures import official  # noqa: F401

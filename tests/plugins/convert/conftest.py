"""Every convert test starts from the convert.ini defaults."""
from __future__ import annotations

import pytest

from plugins.convert import convert_config


@pytest.fixture(autouse=True)
def _reset_convert_config():
    convert_config.reset_config()
    yield
    convert_config.reset_config()

"""Where the checkout under test is (``REPO``), for modules that read its files."""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]

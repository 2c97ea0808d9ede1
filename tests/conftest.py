"""Fixtures and paths shared by every test tier."""

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo():
    """The checkout under test."""
    return REPO

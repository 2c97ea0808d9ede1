"""Functional tests: real services on this machine, isolated from its real state."""

"""
What the test tiers share that is not a test: doubles of the services the code under test
talks to, captured data, and helpers to load the repository's code. Plain modules, imported
by test files and conftests; a test file never imports another test file or a conftest.
"""

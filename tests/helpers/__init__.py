"""Helpers shared by accelhub's test suites."""

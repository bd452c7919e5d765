"""The release pipeline's logic, importable by setup.py, the workflows, Docker and the tests.

Modules here must import with the standard library alone: setup.py loads them inside an isolated
build environment before anything else is installed.
"""

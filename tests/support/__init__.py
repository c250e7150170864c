"""Helpers that test modules import (test modules never import from each other or from conftest)."""

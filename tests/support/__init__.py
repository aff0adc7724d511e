"""Helpers shared by the tests of every kind (tests/unit, engine, app, e2e): a test module
imports from here or gets a fixture from a conftest, never from another test module.

Importing the package chooses the BLAS first, exactly as the `ppltop` command does, because
it must be loaded before anything imports mlx.core.
"""

from ppltop.core.model import blas

BLAS = blas.select()

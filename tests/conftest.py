"""Shared fixtures: a real manager process per test module (or per test where state matters)."""

from __future__ import annotations

import pytest

from manager_process import ManagerProcess


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """One running manager shared by the tests of a module."""
    proc = ManagerProcess(tmp_path_factory.mktemp("manager"))
    proc.setup()
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_manager(tmp_path):
    """A manager of its own, for tests that change global state (settings, lockouts)."""
    proc = ManagerProcess(tmp_path / "manager")
    proc.setup()
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def unstarted_manager(tmp_path):
    """A manager that is set up but not started (CLI tests, startup refusals)."""
    proc = ManagerProcess(tmp_path / "manager")
    yield proc
    proc.stop()

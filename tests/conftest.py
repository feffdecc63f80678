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


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright, shared by a module's tests."""
    from browser import launch

    playwright, browser = launch()
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="module")
def demo_manager(tmp_path_factory):
    """A manager with a live simulated fleet (`serve --demo 5`): 3 edges, 1 relay, 1 appear_x."""
    proc = ManagerProcess(tmp_path_factory.mktemp("demo"))
    proc.setup()
    proc.start("--demo", "5")
    yield proc
    proc.stop()


@pytest.fixture
def browser_session(chromium, demo_manager):
    """A fresh browser context against the demo manager; fails the test on JS errors or CSP
    violations (checked by the test calling session.assert_clean())."""
    from browser import BrowserSession

    session = BrowserSession(chromium, demo_manager.base_url)
    yield session
    session.close()


@pytest.fixture(scope="module")
def admin_token(demo_manager):
    """A Bearer token of the demo manager's admin, login limits relaxed for many sign-ins.
    Modules that use their own `manager` define their own admin_token, which wins."""
    token = demo_manager.token()
    demo_manager.relax_login_limits(token)
    return token

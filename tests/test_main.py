"""`python -m proxy`: the module entry point runs the CLI and exits with its code."""

from __future__ import annotations

import subprocess
import sys


def _python_m_proxy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], capture_output=True, text=True, timeout=60
    )


def test_help_exits_0_and_names_the_commands():
    result = _python_m_proxy("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout and "check-config" in result.stdout


def test_no_command_is_a_usage_error_exit_2():
    result = _python_m_proxy()
    assert result.returncode == 2
    assert "usage:" in result.stderr and result.stdout == ""

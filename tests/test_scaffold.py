"""chatbot new-plugin: the package it writes installs and passes its own tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chatbot.cli import main


@pytest.mark.slow
def test_a_new_plugin_package_installs_and_passes_its_own_tests(tmp_path, capsys):
    assert main(["new-plugin", "style.polite", "--dir", str(tmp_path),
                 "--summary", 'Makes "casual" Korean polite']) == 0
    root = tmp_path / "chatbot-style-polite"
    assert "pip install -e" in capsys.readouterr().out
    assert {p.relative_to(root).as_posix() for p in root.rglob("*.*")} >= {
        "pyproject.toml", "README.md", "chatbot_style_polite/plugin.py", "tests/test_plugin.py"}
    site = tmp_path / "site"  # installed apart, so the other tests' registry stays as it is
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--no-build-isolation", "--target", str(site), str(root)],
                   check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(root / "tests")], cwd=tmp_path, env=env, capture_output=True,
                           text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    listed = subprocess.run([sys.executable, "-m", "chatbot.cli", "plugins"], env=env,
                            capture_output=True, text=True, check=True)
    assert "style.polite\n    Makes 'casual' Korean polite" in listed.stdout


def test_a_bad_name_or_an_existing_folder_is_refused(tmp_path, capsys):
    assert main(["new-plugin", "Polite", "--dir", str(tmp_path)]) == 2
    assert "is not 'stage.name'" in capsys.readouterr().err
    (tmp_path / "chatbot-style-polite").mkdir()
    assert main(["new-plugin", "style.polite", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err

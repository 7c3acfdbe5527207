"""The student's installer, facegen/install.py: which PyTorch wheels it asks pip for, and that a second run
installs nothing. pip itself is not run (the real install, 6 GB, is measured in the README)."""
from __future__ import annotations

import subprocess

import pytest

from facegen import install


@pytest.fixture
def pip_calls(tmp_path, monkeypatch):
    """install() in tmp_path with pip recorded instead of run; the venv's python is made to exist."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, check: calls.append(args))
    env = tmp_path / ".venv"
    install.venv_python(env).parent.mkdir(parents=True)
    install.venv_python(env).touch()
    (tmp_path / "requirements.txt").write_text("# pins\ntorch==2.14.1\ntorchvision==0.29.1  # with torch\nnumpy==2.4.6\n")
    return calls, [tmp_path / "requirements.txt"], env


def test_cpu_wheels_come_from_pytorchs_cpu_index_pinned_as_requirements_says(pip_calls, monkeypatch):
    calls, requirements, env = pip_calls
    monkeypatch.setattr(install, "reachable", lambda url: True)
    install.install(requirements, "cpu", env)
    first = calls[0]
    assert first[first.index("--index-url") + 1] == install.CPU_INDEX
    assert first[-2:] == ["torch==2.14.1", "torchvision==0.29.1"]
    assert ["-r", str(requirements[0])] == calls[1][-2:] and "--no-deps" in calls[2]


def test_the_default_wheels_and_an_unreachable_cpu_index_ask_no_other_index(pip_calls, monkeypatch, capsys):
    calls, requirements, env = pip_calls
    monkeypatch.setattr(install, "reachable", lambda url: False)
    install.install(requirements, "cpu", env)
    assert not any("--index-url" in call for call in calls)
    assert "cannot be reached" in capsys.readouterr().out
    (env / ".installed").unlink()
    calls.clear()
    install.install(requirements, "default", env)
    assert not any("--index-url" in call for call in calls) and len(calls) == 2


def test_a_second_run_installs_nothing_until_the_requirements_change(pip_calls, monkeypatch):
    calls, requirements, env = pip_calls
    install.install(requirements, "default", env)
    calls.clear()
    install.install(requirements, "default", env)
    assert calls == []
    requirements[0].write_text(requirements[0].read_text() + "tqdm==4.70.1\n")
    install.install(requirements, "default", env)
    assert len(calls) == 2


def test_auto_means_cpu_wheels_only_on_linux_without_an_nvidia_driver(monkeypatch):
    for platform, driver, cpu in [("linux", None, True), ("linux", "/usr/bin/nvidia-smi", False),
                                  ("win32", None, False), ("darwin", None, False)]:
        monkeypatch.setattr(install.sys, "platform", platform)
        monkeypatch.setattr(install.shutil, "which", lambda name: driver)
        assert install.wants_cpu_wheels("auto") is cpu, platform
    assert install.wants_cpu_wheels("cpu") and not install.wants_cpu_wheels("default")

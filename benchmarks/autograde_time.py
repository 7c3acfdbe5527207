"""How long autograding takes for a class: N submissions of the solution notebook, every fourth with a
folder of images beside it (what a student who extracted the zip there leaves), in a fresh course directory
made as the README's teacher commands make it; autograded by the command (`nbgrader autograde`, all at once)
or by the Formgrader's Autograde button (its HTTP API, as the page calls it, one submission after another,
in a `jupyter lab` started in the course directory).

    .venv/bin/python -m benchmarks.autograde_time                  # 40 submissions, by the command
    .venv/bin/python -m benchmarks.autograde_time --button         # the same, by the Formgrader's button
    .venv/bin/python -m benchmarks.autograde_time --students 4 --json out.json

The submissions are put straight into submitted/ (what `nbgrader collect` or `zip_collect` leave there),
so the image folders reach autograde even though the course's ignore list keeps them out of a submit.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".ci"))
from nbgrader_course import ASSIGNMENT, make_course  # noqa: E402

from benchmarks import cpu_name  # noqa: E402

NOTEBOOK = ROOT / "face_generation.ipynb"


def image_folder(folder: Path, n: int) -> None:
    """n small JPEG faces in the published zip's layout (processed_celeba_small/celeba/*.jpg)."""
    faces = folder / "processed_celeba_small" / "celeba"
    faces.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (64, 64), (i % 256, 80, 160)).save(faces / f"{i:06d}.jpg")


def first_error_of(notebook_text: str) -> str | None:
    """The first error an autograded notebook shows (ename: evalue), or None."""
    for cell in json.loads(notebook_text)["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output['ename']}: {output['evalue']}"[:300]
    return None


@contextlib.contextmanager
def formgrader(course: Path, env: dict):
    """`jupyter lab` started in the course directory, as a teacher starts it; yields api(path, body=None,
    method=None): what the Formgrader's pages ask of its server (JSON for /formgrader/api, else the page)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token, base = "facegen-formgrader", f"http://127.0.0.1:{port}"
    as_root = ["--allow-root"] if os.getuid() == 0 else []  # CI's containers run as root; a teacher does not
    lab = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                            f"--IdentityProvider.token={token}", *as_root],
                           cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def api(path: str, body: dict | None = None, method: str | None = None):
        request = urllib.request.Request(base + path, method=method or ("GET" if body is None else "PUT"),
                                         headers={"Authorization": f"token {token}"},
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read() or "null") if path.startswith("/formgrader/api") else response.read()
    try:
        for _ in range(240):
            try:
                api("/api/status")
                break
            except OSError:
                if lab.poll() is not None:
                    raise RuntimeError(f"jupyter lab stopped:\n{lab.stderr.read()}") from None
                time.sleep(0.5)
        yield api
    finally:
        lab.terminate()
        lab.wait(timeout=30)


def press_autograde(course: Path, students: list[str], env: dict) -> None:
    """The Formgrader's Autograde button for each student: POST /formgrader/api/submission/A/S/autograde."""
    with formgrader(course, env) as api:
        for student in students:
            done = api(f"/formgrader/api/submission/{ASSIGNMENT}/{student}/autograde", {}, method="POST")
            if not done["success"]:
                sys.exit(f"the button failed for {student}:\n{done.get('error') or done.get('log')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--images", type=int, default=500, help="images in each folder left beside a notebook")
    parser.add_argument("--button", action="store_true", help="the Formgrader's Autograde button, not the command")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGEN_")}  # the course config decides
    env |= {"MPLBACKEND": "agg", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        make_course(course)
        nbgrader = [sys.executable, "-m", "nbgrader"]
        subprocess.run([*nbgrader, "generate_assignment", ASSIGNMENT], cwd=course, env=env, check=True,
                       capture_output=True)
        for i in range(args.students):
            folder = course / "submitted" / f"student{i:02d}" / ASSIGNMENT
            folder.mkdir(parents=True)
            shutil.copyfile(NOTEBOOK, folder / NOTEBOOK.name)
            if i % 4 == 0:
                image_folder(folder, args.images)
        start = time.perf_counter()
        if args.button:
            press_autograde(course, [f"student{i:02d}" for i in range(args.students)], env)
        else:
            done = subprocess.run([*nbgrader, "autograde", ASSIGNMENT, "--create"], cwd=course, env=env,
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"autograde failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        seconds = time.perf_counter() - start
        graded = {p.parent.parent.name: p.read_text() for p in (course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")}
        trained = sorted(name for name, text in graded.items() if "nothing was trained here" not in text)
        not_graded = sorted(f"student{i:02d}" for i in range(args.students) if f"student{i:02d}" not in graded)
        first_error = {name: first_error_of(graded[name]) for name in trained}
    result = {"route": "the Formgrader's Autograde button" if args.button else "nbgrader autograde", "students": args.students, "with_an_image_folder": len(range(0, args.students, 4)),
              "images_per_folder": args.images, "seconds": round(seconds, 1),
              "seconds_per_submission": round(seconds / args.students, 1), "trained": trained,
              "not_graded": not_graded, "first_error": first_error,
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
              "machine": f"{os.cpu_count()} cores of {cpu_name()}, nbgrader 0.9.6, the solution notebook",
              "command": "python -m benchmarks.autograde_time" + (" --button" if args.button else "")}
    print(f"{result['route']}: {args.students} submissions ({result['with_an_image_folder']} with {args.images} images "
          f"beside the notebook): {seconds:.0f} s, {result['seconds_per_submission']} s a submission; "
          f"{'none' if not trained else len(trained)} trained, {len(not_graded)} not graded")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

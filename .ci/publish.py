"""Write the project's address (pyproject.toml, [tool.facegen] repository) where it is used: the notebook's
first cell (PROJECT_URL, and PROJECT_REF = the tag v{version}) and the README's "Open in Colab" badges.

    python .ci/publish.py            # write them (then python .ci/make_student.py, for the student notebook)
    python .ci/publish.py --check    # exit 1 if they are not what the setting says
    python .ci/publish.py --tag      # tag the commit v{version} (then: git push origin v{version})

To publish: set repository in pyproject.toml, run the first and make_student.py, commit, then --tag: the
notebook's first cell installs the helpers from that tag.
Standard library only.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK, README, PYPROJECT = ROOT / "face_generation.ipynb", ROOT / "README.md", ROOT / "pyproject.toml"
BADGES = re.compile(r"(<!-- badges: written by \.ci/publish\.py -->\n)(?:.*?\n)?(<!-- /badges -->)", re.S)
NOTEBOOKS = {"the exercise": "face_generation_student.ipynb", "the worked lesson": "face_generation.ipynb"}


def setting() -> tuple[str, str]:
    """(repository, ref): the address (no trailing .git or /) and the tag v{version}."""
    project = tomllib.loads(PYPROJECT.read_text())
    return project["tool"]["facegen"]["repository"].strip().removesuffix("/").removesuffix(".git"), \
        f"v{project['project']['version']}"


def badges(repository: str, ref: str) -> str:
    """The README's badge lines: Colab opens a notebook straight from a GitHub address."""
    if not repository:
        return ("*Open in Colab* badges appear here once the project has a public address: set `repository` in "
                "`pyproject.toml` and run `python .ci/publish.py` (see *Publishing*).")
    github = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", repository)
    if not github:
        return f"The project lives at {repository} (Colab opens notebooks from GitHub addresses only)."
    return "\n".join(f"[![Open {what} in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                     f"(https://colab.research.google.com/github/{github[1]}/blob/{ref}/{name}) {what} (`{name}`)  "
                     for what, name in NOTEBOOKS.items()).rstrip()


def first_cell(source: str, repository: str, ref: str) -> str:
    source, n_url = re.subn(r'(PROJECT_URL = os\.environ\.get\("FACEGEN_PROJECT_URL", )"[^"]*"\)',
                            lambda m: f'{m[1]}"{repository + ".git" if repository else ""}")', source)
    source, n_ref = re.subn(r'PROJECT_REF = "[^"]*"', f'PROJECT_REF = "{ref}"', source)
    assert n_url == n_ref == 1, "the notebook's first code cell sets PROJECT_URL and PROJECT_REF once each"
    return source


def written() -> dict[Path, str]:
    """Each file's text as the setting says it should be."""
    repository, ref = setting()
    nb = json.loads(NOTEBOOK.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell["source"] = first_cell("".join(cell["source"]), repository, ref).splitlines(keepends=True)
    readme, n = BADGES.subn(lambda m: m[1] + badges(repository, ref) + "\n" + m[2], README.read_text())
    assert n == 1, "README.md has one badges block"
    return {NOTEBOOK: json.dumps(nb, indent=1, ensure_ascii=False) + "\n", README: readme}


def tag(stale: list[Path]) -> int:
    """Tag HEAD v{version}, the ref the notebook installs from, once the files hold the setting and are committed."""
    _, ref = setting()
    git = ["git", "-C", str(ROOT)]
    if stale or subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
        print("Run python .ci/publish.py and python .ci/make_student.py, and commit everything first: the tag "
              "marks what the notebook will install.")
        return 1
    tagged = subprocess.run([*git, "rev-parse", "-q", "--verify", f"refs/tags/{ref}^{{commit}}"],
                            capture_output=True, text=True).stdout.strip()
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    if tagged and tagged != head:
        print(f"{ref} already tags another commit: raise the version in pyproject.toml for a new release.")
        return 1
    if not tagged:
        subprocess.run([*git, "tag", ref], check=True)
    print(f"{ref} tags this commit; push it with: git push origin {ref}")
    return 0


def main() -> int:
    stale = [path for path, text in written().items() if path.read_text() != text]
    if "--tag" in sys.argv[1:]:
        return tag(stale)
    if "--check" in sys.argv[1:]:
        if stale:
            print(f"{', '.join(p.name for p in stale)} do not hold pyproject.toml's address: run python .ci/publish.py")
            return 1
        print("The notebook's first cell and the README's badges hold pyproject.toml's address.")
        return 0
    for path, text in written().items():
        path.write_text(text)
    print(f"Wrote the address to {NOTEBOOK.name} and {README.name}; now run python .ci/make_student.py.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

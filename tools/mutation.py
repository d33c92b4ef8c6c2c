"""``make mutation``: mutation testing of the pure domain modules (docs/mutation.md).

mutmut copies the tree into ``mutants/`` and runs each mutant of the functions below against
the fast unit tests that reach it (``[tool.mutmut]`` in pyproject.toml). This prints the score
of each module and every surviving mutant, and exits 1 when a module scores under ``TARGET``:
a surviving mutant is a change to the code that no test notices.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
TARGET = 95.0
# The read guard of the version store: what a reader of a partition gets (C5.5-4).
READ_GUARD = ("readable", "check_readable", "failed_dimensions", "active_waiver", "latest")
MODULES: dict[str, tuple[str, ...]] = {
    "orchestration/retention/plan.py": ("orchestration.retention.plan.*",),
    "orchestration/retention/deadlines.py": ("orchestration.retention.deadlines.*",),
    "orchestration/declarations/rules.py": ("orchestration.declarations.rules.*",),
    "orchestration/store/versions.py": tuple(
        f"orchestration.store.versions.x\u01c1VersionStore\u01c1{name}__mutmut_*"
        for name in READ_GUARD
    ),
}
KILLED = ("killed", "timeout")  # mutmut counts a mutant that hangs the tests as caught


def main() -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # never score a stale copy
    started = datetime.now(UTC)
    patterns = [p for group in MODULES.values() for p in group]
    run = subprocess.run(
        [mutmut, "run", *patterns], cwd=ROOT, capture_output=True, text=True, check=False
    )
    (ROOT / "mutants" / "run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    if run.returncode != 0:
        print((run.stdout + run.stderr)[-4000:])
        print(f"mutmut run failed with exit code {run.returncode}; see mutants/run.log")
        return 2

    print(f"mutmut run of {started:%Y-%m-%d %H:%M} UTC, each module against its unit tests\n")
    print(f"{'module':<44}{'mutants':>8}{'killed':>8}{'survived':>9}{'no tests':>9}  score")
    failing, survivors = [], []
    for module, group in MODULES.items():
        meta = json.loads((ROOT / "mutants" / f"{module}.meta").read_text(encoding="utf-8"))
        results = {
            name: status_by_exit_code[code]
            for name, code in meta["exit_code_by_key"].items()
            if any(fnmatch.fnmatch(name, p) for p in group)
        }
        counts = Counter(results.values())
        tested = len(results) - counts["skipped"]
        killed = sum(counts[s] for s in KILLED)
        score = 100.0 * killed / tested if tested else 0.0
        label = module + (" (read guard)" if module.endswith("versions.py") else "")
        print(
            f"{label:<44}{len(results):>8}{killed:>8}{counts['survived']:>9}"
            f"{counts['no tests']:>9}  {score:.1f} %"
        )
        if score < TARGET:
            failing.append(label)
        survivors += sorted((n, s) for n, s in results.items() if s not in KILLED)

    for name, status in survivors:
        shown = subprocess.run(
            [mutmut, "show", name], cwd=ROOT, capture_output=True, text=True, check=False
        )
        diff = [
            line
            for line in shown.stdout.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        print(f"\n{status}: {name}")
        print("\n".join(f"    {line}" for line in diff))
    if failing:
        print(f"\nunder the {TARGET:.0f} % target: {', '.join(failing)}")
        return 1
    print(f"\nevery module at or above the {TARGET:.0f} % target")
    return 0


if __name__ == "__main__":
    sys.exit(main())

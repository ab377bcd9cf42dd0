r"""Preprocessors that make ``nbgrader autograde`` safe to run on untrusted notebooks.

``exercises/nbgrader_config.py`` installs them with::

    c.Autograde.autograde_preprocessors = autograde_preprocessors()

which is nbgrader's own list with three changes:

- :class:`SnapshotCourseFiles` first, :class:`RestoreCourseFiles` after
  execution and re-grading: the gradebook, the course's config and source
  are read into memory before the student's kernel starts; anything the
  kernel changed, deleted or added there is put back (the gradebook by
  content, so nbgrader's next connection sees the original), and the notebook
  gets no points. This is the defense when grading as an ordinary user, e.g.
  on a JupyterHub.
- :class:`SandboxedExecute` replaces ``Execute``: the kernel starts through
  ``python -m dlopt.grading.sandbox`` (:func:`dlopt.grading.sandbox.launch`):
  an address-space limit (a huge allocation raises ``MemoryError`` instead of
  waking the OOM killer), no core files, a fresh private ``HOME`` (so no
  IPython startup file or user site can be planted for the next student) and,
  when grading as root, an unprivileged user that cannot write the gradebook
  or anything outside the world-writable folders.
- :class:`TrustedRegrade` after execution: for every test cell whose grade id
  names a registered exercise (``test_<function>``,
  :data:`dlopt.grading.exercises.BY_GRADE_ID`), the answer is graded again in
  a sandboxed child (:func:`dlopt.grading.sandbox.run_answer`) on the visible
  cases and fresh hidden ones, and compared *in this process*. If that fails,
  an error output is appended to the cell, so nbgrader scores it 0 whatever
  the kernel printed: rebinding ``numpy.allclose``, the grading helpers or
  builtins, replacing ``showtraceback``, or calling the reference cannot pass.
  A cell passes only if it passed in the kernel *and* here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer

from dlopt.grading import sandbox

_SNAPSHOT_KEY = "dlopt_snapshot"


# --------------------------------------------------------------------------- the kernel


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel through :func:`dlopt.grading.sandbox.launch`."""

    memory_limit = Integer(4 << 30, help="Address-space limit of the kernel, bytes").tag(
        config=True)
    process_limit = Integer(256, help="Processes the sandbox user may run (root only)").tag(
        config=True)

    _home: str | None = None

    async def _async_pre_start_kernel(self, **kw):
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        self._home = sandbox.private_directory()
        launcher = [sys.executable, "-m", "dlopt.grading.sandbox",
                    f"--memory={self.memory_limit}", f"--processes={self.process_limit}",
                    f"--home={self._home}", "--"]
        return launcher + list(cmd), kw

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._home and not restart:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the kernel in the sandbox (configure it as ``Execute``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)


# --------------------------------------------------------------------------- the grade


def is_test_cell(cell) -> bool:
    """An autograder test cell: graded, not an answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def answer_sources(nb) -> list[str]:
    """The code the student's functions may depend on: every code cell but the test cells."""
    return [cell.source for cell in nb.cells
            if cell.cell_type == "code" and not is_test_cell(cell)]


def regrade(nb, *, limits: sandbox.Limits | None = None) -> dict[str, object]:
    """Grade every registered test cell of ``nb`` in the sandbox: ``{grade_id: Verdict}``."""
    from dlopt.grading.exercises import BY_GRADE_ID, judge

    exercises = [BY_GRADE_ID[c.metadata.nbgrader["grade_id"]] for c in nb.cells
                 if is_test_cell(c) and c.metadata.nbgrader.get("grade_id") in BY_GRADE_ID]
    if not exercises:
        return {}
    plan = [(ex, ex.cases(hidden=False) + ex.cases(hidden=True)) for ex in exercises]
    tasks = [case.task for _, cases in plan for case in cases]
    groups = [ex.name for ex, cases in plan for _ in cases]
    run = sandbox.run_answer(answer_sources(nb), tasks, limits=limits or sandbox.Limits(),
                             groups=groups)
    verdicts, start = {}, 0
    for ex, cases in plan:
        outcomes = run.outcomes[start:start + len(cases)]
        start += len(cases)
        verdicts[ex.grade_id] = judge(ex, cases, outcomes, answer_errors=run.cell_errors)
    return verdicts


def error_output(ename: str, message: str) -> NotebookNode:
    """An ``error`` output, the kind nbgrader scores as 0 points."""
    return NotebookNode(output_type="error", ename=ename, evalue=message.splitlines()[0],
                        traceback=[f"{ename}: {line}" if i == 0 else line
                                   for i, line in enumerate(message.splitlines())])


class TrustedRegrade(NbGraderPreprocessor):
    """Re-grade registered test cells in the sandbox; a failure there scores the cell 0."""

    seconds_per_task = Float(5.0, help="Time limit of one case, seconds").tag(config=True)
    memory_limit = Integer(2 << 30, help="Address-space limit of the grading child").tag(
        config=True)

    def preprocess(self, nb, resources):
        limits = sandbox.Limits(seconds_per_task=self.seconds_per_task,
                                memory_bytes=self.memory_limit)
        verdicts = regrade(nb, limits=limits)
        for cell in nb.cells:
            verdict = verdicts.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
            if verdict is not None and is_test_cell(cell) and not verdict.passed:
                self.log.info("Trusted re-grade of %s failed", verdict.exercise)
                cell.outputs.append(error_output("TrustedGradeError", verdict.summary()))
        return nb, resources


# --------------------------------------------------------------------------- course files


def protected_paths(resources) -> tuple[Path, list[Path]]:
    """The gradebook's path, and the folders whose files a kernel must not change.

    The ``dlopt`` package is not among them: restoring files there would revert
    a maintainer's concurrent edit of an editable install. Install it read-only
    for the grader when grading as an ordinary user (as root, the sandbox user
    cannot write it).
    """
    db_url = resources["nbgrader"]["db_url"]
    if not db_url.startswith("sqlite:///"):
        raise ValueError(f"Invalid db_url: {db_url!r} (expected a sqlite:/// gradebook)")
    gradebook = Path(db_url[len("sqlite:///"):])
    return gradebook, [gradebook.parent / "source"]


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_files(folder: Path) -> dict[Path, bytes]:
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return {p: p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not skip.intersection(p.parts)}


class SnapshotCourseFiles(NbGraderPreprocessor):
    """Remember the gradebook and the protected folders before the kernel runs."""

    def preprocess(self, nb, resources):
        gradebook, folders = protected_paths(resources)
        backup = tempfile.NamedTemporaryFile(prefix="gradebook-", suffix=".db", delete=False)
        backup.close()
        _sqlite_copy(gradebook, Path(backup.name))
        files = {}
        for folder in folders:
            files.update(_folder_files(folder))
        config = gradebook.parent / "nbgrader_config.py"
        if config.exists():
            files[config] = config.read_bytes()
        resources[_SNAPSHOT_KEY] = {"gradebook": gradebook, "hash": _hash(gradebook),
                                    "backup": Path(backup.name), "files": files,
                                    "folders": folders}
        return nb, resources


class RestoreCourseFiles(NbGraderPreprocessor):
    """Put back whatever the kernel changed; a notebook that changed anything gets 0."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        snap = resources.pop(_SNAPSHOT_KEY, None)
        if snap is None:
            return nb, resources
        try:
            changed = restore(snap)
        finally:
            snap["backup"].unlink(missing_ok=True)
        if changed:
            listing = ", ".join(sorted(str(p) for p in changed)[:5])
            self.log.error("The notebook changed protected files; restored: %s", listing)
            message = (f"This submission changed files outside its folder ({listing}); "
                       "they were restored and the submission gets no points.")
            for cell in nb.cells:
                if is_test_cell(cell) and cell.cell_type == "code":
                    cell.outputs.append(error_output("TamperingError", message))
        return nb, resources


def restore(snap: dict) -> list[Path]:
    """Restore the snapshot's gradebook and files; return the paths that had changed."""
    changed = []
    gradebook: Path = snap["gradebook"]
    if not gradebook.exists() or _hash(gradebook) != snap["hash"]:
        changed.append(gradebook)
        _sqlite_copy(snap["backup"], gradebook)
    files: dict[Path, bytes] = snap["files"]
    for path, content in files.items():
        if not path.exists() or path.read_bytes() != content:
            changed.append(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    for folder in snap["folders"]:
        for path in _folder_files(folder):
            if path not in files:
                changed.append(path)
                path.unlink()
    return changed


def _sqlite_copy(src: Path, dst: Path) -> None:
    """Copy a sqlite database by content (a replaced or corrupted file is overwritten)."""
    if dst.exists():
        try:
            with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
                a.backup(b)
            return
        except sqlite3.DatabaseError:  # not a database any more: replace the file
            pass
    tmp = dst.with_name(dst.name + ".restoring")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# --------------------------------------------------------------------------- the list


def autograde_preprocessors() -> list:
    """nbgrader's autograde preprocessors with the snapshot, sandbox and trusted re-grade."""
    from nbgrader.converters.autograde import Autograde

    out = [SnapshotCourseFiles]
    for pp in Autograde.class_traits()["autograde_preprocessors"].default():
        if pp is Execute:
            out += [SandboxedExecute, TrustedRegrade, RestoreCourseFiles]
        else:
            out.append(pp)
    return out

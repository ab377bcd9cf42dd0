r"""The sandboxed child: runs an answer's cells, then the grading tasks, and reports outputs.

This module is what runs *inside* the operating-system sandbox of
:mod:`dlopt.grading.sandbox`. The sandbox's file system holds the Python
interpreter's standard library, NumPy, this module, :mod:`dlopt.grading.tasks`
and, for the exercises that need them, :mod:`dlopt.grading.stand_ins`; no other
``dlopt`` module and no torch exist there, so an answer cannot call a reference
by any route (import, file path, ``gc``).

The child reads its request (the answer's cells, the tasks, a nonce) from
``/grader/request``, executes the cells (capturing what each prints, for the
student's feedback), runs each task (:func:`dlopt.grading.tasks.run_task`) and
writes every result as a frame tagged with the nonce to a private copy of its
standard output. It never decides a grade: the grader compares the outputs
with the reference in its own process. Its own stdout and stderr go to
``/dev/null``; what an answer prints during the tasks is discarded.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import re
import struct
import sys
from importlib.abc import MetaPathFinder

from dlopt.grading.tasks import (
    Outcome,
    TaskTimeout,
    _time_limit,
    decode,
    describe_exception,
    encode,
    load_stand_ins,
    run_task,
)

REQUEST_PATH = "/grader/request"
MAGIC = b"DLOPT\x02"
HEADER = struct.Struct("<16siII")  # nonce, index (-1: the cells' report), JSON length, npz length
CELL_TEXT_LIMIT = 10_000  # characters of a cell's printed output kept for the feedback
NOT_AVAILABLE = ("dlopt", "torch")


def not_available_message(name: str) -> str:
    """What an answer that imports ``dlopt`` or ``torch`` is told (by ``check`` too)."""
    return (
        f"importing {name} is not allowed in an answer: implement the computation yourself "
        f"with NumPy (the grader compares it with dlopt's reference)"
    )


class _ExplainMissing(MetaPathFinder):
    """Last on ``sys.meta_path``: turns "No module named 'torch'" into an explanation.

    Not a wall (the modules are simply absent from the sandbox); only a clearer message.
    """

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in NOT_AVAILABLE:  # the same words as ``check`` in the notebook
            raise ImportError(not_available_message(top), name=fullname)
        return None


class _Bounded(io.StringIO):
    """A text buffer that keeps at most :data:`CELL_TEXT_LIMIT` characters."""

    def write(self, s: str) -> int:
        room = CELL_TEXT_LIMIT - self.tell()
        if room > 0:
            super().write(str(s)[:room])
        return len(s)


_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def strip_magics(source: str) -> str:
    """IPython magics and shell escapes (``%...``, ``!...``) become ``pass``."""
    return "\n".join(_MAGIC_LINE.sub(r"\1pass  # ", line) for line in source.splitlines())


def exec_cells(cells: list[str], namespace: dict, seconds: float) -> list[dict]:
    """Execute each cell in ``namespace``; one report per cell: ``{"text", "error"}``."""
    reports = []
    for i, source in enumerate(cells):
        printed, error = _Bounded(), None
        try:
            code = compile(strip_magics(source), f"<answer cell {i + 1}>", "exec")
            with (
                contextlib.redirect_stdout(printed),
                contextlib.redirect_stderr(printed),
                _time_limit(seconds),
            ):
                exec(code, namespace)
        except (Exception, TaskTimeout) as exc:
            error = describe_exception(exc)
        except SystemExit as exc:
            error = f"SystemExit: {exc.code!r} (an answer cell called sys.exit)"
        reports.append({"text": printed.getvalue(), "error": error})
    return reports


def send(channel, nonce: bytes, index: int, value) -> None:
    text, blob = encode(value)
    data = text.encode()
    channel.write(MAGIC + HEADER.pack(nonce, index, len(data), len(blob)) + data + blob)
    channel.flush()


def read_frames(out: bytes, nonce: bytes) -> tuple[list[dict] | None, dict[int, Outcome]]:
    """The cells' report and the outcomes (by task index) among the frames of ``out``.

    Bytes that are not a well-formed frame with this run's nonce are skipped.
    """
    cells: list[dict] | None = None
    outcomes: dict[int, Outcome] = {}
    pos = 0
    while True:
        pos = out.find(MAGIC, pos)
        if pos < 0 or pos + len(MAGIC) + HEADER.size > len(out):
            break
        start = pos + len(MAGIC)
        tag, index, n_json, n_npz = HEADER.unpack_from(out, start)
        body = start + HEADER.size
        if tag != nonce or body + n_json + n_npz > len(out):
            pos += 1
            continue
        try:
            end = body + n_json
            value = decode(out[body:end].decode(), out[end : end + n_npz])
        except Exception:  # malformed: its task then counts as missing
            pos += 1
            continue
        if index < 0 and cells is None and isinstance(value, list):
            cells = [c for c in value if isinstance(c, dict)]
        elif index >= 0 and isinstance(value, Outcome) and index not in outcomes:
            outcomes[index] = value
        pos = end + n_npz
    return cells, outcomes


SKIPPED = "not run: an earlier case of this exercise did not finish"


def main() -> None:
    """Entry point inside the sandbox (see the module docstring)."""
    channel = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    with open(REQUEST_PATH, "rb") as f:
        raw = f.read()
    n_json, n_npz = struct.unpack_from("<II", raw)
    request = decode(raw[8 : 8 + n_json].decode(), raw[8 + n_json : 8 + n_json + n_npz])
    nonce = bytes.fromhex(request["nonce"])
    sys.meta_path.append(_ExplainMissing())
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    send(channel, nonce, -1, exec_cells(request["cells"], namespace, request["seconds_per_cell"]))
    stand_ins = load_stand_ins() if request["stand_ins"] else {}
    timed_out = set()  # groups (exercises) with a case that ran out of time
    for i, (task, group) in enumerate(zip(request["tasks"], request["groups"], strict=True)):
        fn = namespace.get(task.function)
        if group in timed_out:
            outcome = Outcome(None, SKIPPED)
        elif not callable(fn):
            outcome = Outcome(
                None,
                f"NameError: no function named {task.function} was defined by the answer cells",
            )
        else:
            try:
                outcome = run_task(
                    task, fn, stand_ins=stand_ins, time_limit=request["seconds_per_task"]
                )
            except TaskTimeout as exc:
                outcome = Outcome(None, f"TaskTimeout: {exc}")
                timed_out.add(group)
        send(channel, nonce, i, outcome)


if __name__ == "__main__":
    main()

"""A pytest plugin for the nbval stage: a kernel that dies while starting is started again.

A kernel can die before it answers its first request for reasons outside the notebook
(two kernels started at the same moment by two xdist workers can race for a TCP port).
nbval then errors every cell of that notebook. This plugin gives each notebook's kernel
up to ``ATTEMPTS`` starts, keeps each attempt's stderr (nbval discards it), and warns with
it when a start failed; if every attempt fails, the error carries the last stderr.
Loaded by ``scripts/test`` (``-p nbval_kernel_retry``, with ``scripts/pytest`` on the path).
"""

from __future__ import annotations

import tempfile
import warnings

import nbval.kernel

ATTEMPTS = 3
_start_new_kernel = nbval.kernel.start_new_kernel


def _stderr_of(log) -> str:
    log.seek(0)
    return log.read()[-3000:] or "(nothing)"


def start_new_kernel(*args, stderr=None, **kwargs):
    """nbval's ``start_new_kernel``, tried up to ``ATTEMPTS`` times while the kernel dies."""
    for attempt in range(1, ATTEMPTS + 1):
        log = tempfile.TemporaryFile(mode="w+")
        try:
            return _start_new_kernel(*args, stderr=log, **kwargs)
        except RuntimeError as exc:
            if "died" not in str(exc):
                raise
            if attempt == ATTEMPTS:
                raise RuntimeError(
                    f"{exc} ({ATTEMPTS} attempts); its stderr:\n{_stderr_of(log)}"
                ) from exc
            warnings.warn(
                f"a kernel died while starting (attempt {attempt} of {ATTEMPTS}); "
                f"its stderr:\n{_stderr_of(log)}",
                RuntimeWarning,
                stacklevel=2,
            )


nbval.kernel.start_new_kernel = start_new_kernel

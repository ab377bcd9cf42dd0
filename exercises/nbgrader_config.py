"""nbgrader configuration of the course "Optimization for Deep Learning" (course id ``dlopt``).

Every path is relative to this file's folder, the course root, so the course
works wherever it is checked out. On a JupyterHub with nbgrader's exchange,
set ``NBGRADER_EXCHANGE_ROOT`` to the hub's exchange folder (often
``/srv/nbgrader/exchange``); locally the exchange is ``exchange/`` here.
See README.md in this folder for the instructor's guide.
"""

import os

from dlopt.grading.nbgrader_plugin import autograde_preprocessors

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

root = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "dlopt"
c.CourseDirectory.root = root
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", os.path.join(root, "exchange"))

# Each cell gets 60 s of kernel time; a cell that runs longer is interrupted and
# fails, and grading goes on with the next cell.
c.Execute.timeout = 60

# Grading runs untrusted code: the kernel runs in a sandbox (limits, and an
# unprivileged user when grading as root), every registered test is decided again
# in a sandboxed process, and the gradebook and course files are restored if a
# submission touched them. See dlopt.grading.nbgrader_plugin.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.SandboxedKernelManager.memory_limit = 4 << 30
c.TrustedRegrade.seconds_per_task = 5.0

# A test cell deleted from a submission is put back (and run) before grading.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

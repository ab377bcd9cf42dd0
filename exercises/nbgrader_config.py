"""nbgrader configuration of the course "Optimization for Deep Learning" (course id ``dlopt``).

Every path is relative to this file's folder, the course root, so the course
works wherever it is checked out. On a JupyterHub with nbgrader's exchange,
set ``NBGRADER_EXCHANGE_ROOT`` to the hub's exchange folder (nbgrader's default
is ``/usr/local/share/nbgrader/exchange``); locally the exchange is ``exchange/`` here.
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

# Grading runs untrusted code, so no Jupyter kernel runs a submission: every test
# cell is decided by dlopt's trusted grader (each exercise's cases run in a fresh
# bubblewrap sandbox: no course files, no network, its own user and processes,
# CPU-time limits), and its outputs are replaced by the verdict. See
# dlopt.grading.nbgrader_plugin and the threat model in README.md.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.TrustedExecute.cpu_seconds_per_task = 5.0

# A test cell deleted from a submission is put back (and run) before grading.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Loaded by every kernel that the tests, nbval, nbgrader and the book start
# (scripts/test copies it into the private IPYTHONDIR it sets; the book's build makes a
# profile of its own from it, see _ext/figure_text.py).
import os

# silence ipykernel 7's "Kernel is running over TCP without encryption" warning, printed
# once per kernel
c.IPKernelApp.log_level = "ERROR"  # noqa: F821

# The book's build only: record in every inline PNG the smallest text it shows
# (scripts/jupyter/figure_text.py; tests/test_site.py checks it against the page).
_hook = os.environ.get("DLOPT_FIGURE_TEXT_HOOK")
if _hook:
    import importlib.util
    import sys

    _spec = importlib.util.spec_from_file_location("dlopt_figure_text", _hook)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    sys.modules["dlopt_figure_text"] = _module
    c.InteractiveShellApp.extensions.append("dlopt_figure_text")  # noqa: F821

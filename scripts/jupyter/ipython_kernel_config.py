# Loaded by every kernel that the tests, nbval, nbgrader and the book start
# (scripts/test copies it into the private IPYTHONDIR it sets): silence ipykernel 7's
# "Kernel is running over TCP without encryption" warning, printed once per kernel.
c.IPKernelApp.log_level = "ERROR"  # noqa: F821

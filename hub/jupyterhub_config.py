"""JupyterHub configuration of the course "Optimization for Deep Learning" on one machine.

hub/start runs hub/setup (the environment, users, exchange) and then JupyterHub with this
file. Everything that differs between machines comes from the environment, with defaults
for a small class on one machine:

DLOPT_HUB_PREFIX      the hub's environment (hub/setup made it)   /opt/dlopt-hub
DLOPT_HUB_STATE       the hub's database and cookie secret         /srv/dlopt-hub
DLOPT_HUB_EXCHANGE    nbgrader's exchange                          /srv/nbgrader/exchange
DLOPT_HUB_ROSTER      the students (nbgrader's roster CSV)         hub/roster.example.csv
DLOPT_HUB_INSTRUCTOR  the instructor's user name                   dlopt-teacher
DLOPT_HUB_BIND_URL    where the hub listens                        http://:8000
DLOPT_HUB_HUB_BIND_URL, DLOPT_HUB_PROXY_API_URL   the hub's and the proxy's internal
                      addresses (JupyterHub's defaults: http://127.0.0.1:8081, :8001)
DLOPT_HUB_AUTH        "pam" (Unix passwords) or "shared" (one class password,
                      DLOPT_HUB_SHARED_PASSWORD, at least 8 characters)   pam
"""

import csv
import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

HERE = Path(__file__).resolve().parent
env = os.environ.get
PREFIX = Path(env("DLOPT_HUB_PREFIX", "/opt/dlopt-hub"))
VENV = PREFIX / "venv"
STATE = Path(env("DLOPT_HUB_STATE", "/srv/dlopt-hub"))
EXCHANGE = env("DLOPT_HUB_EXCHANGE", "/srv/nbgrader/exchange")
ROSTER = Path(env("DLOPT_HUB_ROSTER", str(HERE / "roster.example.csv")))
INSTRUCTOR = env("DLOPT_HUB_INSTRUCTOR", "dlopt-teacher")

with open(ROSTER, newline="") as f:
    STUDENTS = [row["id"].strip() for row in csv.DictReader(f)]

STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
c.JupyterHub.bind_url = env("DLOPT_HUB_BIND_URL", "http://:8000")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
if env("DLOPT_HUB_HUB_BIND_URL"):
    c.JupyterHub.hub_bind_url = env("DLOPT_HUB_HUB_BIND_URL")
if env("DLOPT_HUB_PROXY_API_URL"):
    c.ConfigurableHTTPProxy.api_url = env("DLOPT_HUB_PROXY_API_URL")
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# --------------------------------------------------------------------- who may log in
if env("DLOPT_HUB_AUTH", "pam") == "shared":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env("DLOPT_HUB_SHARED_PASSWORD", "")
else:
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False  # no systemd-logind session per server
c.Authenticator.allowed_users = set(STUDENTS) | {INSTRUCTOR}
c.Authenticator.admin_users = {INSTRUCTOR}

# --------------------------------------------------------------------- each user's server
# One process per user, as that Unix user, in its home: the walls between students are the
# operating system's (file modes on the homes and the exchange).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {
    # nbgrader runs alembic by name, kernels are this environment's Python with dlopt
    "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    "VIRTUAL_ENV": str(VENV),  # not the hub starter's (JupyterHub passes VIRTUAL_ENV on)
    # the course's nbgrader_config.py takes the exchange from here (else exercises/exchange)
    "NBGRADER_EXCHANGE_ROOT": EXCHANGE,
    "PYTHONWARNINGS": "ignore:Object of type:Warning",
    "OMP_NUM_THREADS": "1",
}
c.Spawner.start_timeout = 120  # a busy machine starts servers slowly
c.Spawner.http_timeout = 120

"""A class on the course's real JupyterHub: hub/setup, JupyterHub, the proxy, Unix users.

As root, the module runs ``hub/setup`` for a roster of four students and an instructor
(Unix users ``hubtest-*``, deleted and created again at every run so each run starts
clean), starts JupyterHub with ``hub/jupyterhub_config.py`` on free local ports, starts
every user's server through the hub's REST API, and then runs a class:

- the instructor imports the roster, generates and releases ``activations``;
- three students fetch, edit, validate and submit: Ada through her server's REST API (the
  calls JupyterLab's Assignments tab makes), Grace and Alan with nbgrader's commands run as
  their Unix users (``runuser``); Grace answers one exercise with a catalogued mistake,
  Alan leaves one unanswered;
- the instructor collects, autogrades with ``python -m dlopt.grading.autograde_class``,
  grades the written answers through the Formgrader's REST API, generates and releases
  feedback; each student fetches their own; ``nbgrader export`` gives the roster's names;
- the isolation tests try, as one student's Unix user, to reach another student's work,
  the course in the exchange, the course root and the gradebook;
- a student logs in in Chromium, opens the Assignments tab, fetches, runs, validates and
  submits another assignment.

The steps share one hub and run in file order; each test asserts one stage.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import requests
from _browser import CHROMIUM, CHROMIUM_ARGS

from dlopt.grading.assignments import EXERCISES
from dlopt.grading.mistakes import MISTAKES

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub tests create Unix users: run as root"),
]

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(os.environ.get("DLOPT_HUB_PREFIX", "/opt/dlopt-hub"))
VENV = PREFIX / "venv"
BASE = Path("/srv/dlopt-hub-test")  # outside /tmp/pytest-of-root (0700): students must reach it
EXCHANGE = BASE / "exchange"
COURSE_ID = "dlopt"
ASSIGNMENT = "activations"
BROWSER_ASSIGNMENT = "initialization"
INSTRUCTOR = "hubtest-teacher"
ROSTER = {  # id: (first name, last name)
    "hubtest-ada": ("Ada", "Lovelace"),
    "hubtest-grace": ("Grace", "Hopper"),
    "hubtest-alan": ("Alan", "Turing"),
    "hubtest-lin": ("Lin", "Browser"),
}
ADA, GRACE, ALAN, LIN = ROSTER
# Grace's mistake (catalogued) and Alan's unanswered exercise, and what each costs
GRACE_MISTAKE = next(m for m in MISTAKES if m.exercise == "sigmoid_layer")
ALAN_SKIPS = "relu_layer"
WRITTEN = "written_saturation"
MANUAL = {ADA: 4.0, GRACE: 3.0, ALAN: 5.0}  # the instructor's marks for the written answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def home(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def as_user(
    user: str,
    *cmd,
    cwd: Path | None = None,
    env: dict | None = None,
    stdin: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run ``cmd`` as the Unix user ``user`` with a clean environment, as a hub terminal has."""
    base = {
        "HOME": str(home(user)),
        "USER": user,
        "LOGNAME": user,
        "LANG": "C.UTF-8",
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore:Object of type:Warning",
    }
    base.update(env or {})
    argv = [
        "runuser",
        "-u",
        user,
        "--",
        "env",
        "-i",
        *(f"{k}={v}" for k, v in base.items()),
        *map(str, cmd),
    ]
    return subprocess.run(
        argv, cwd=cwd or home(user), input=stdin, capture_output=True, text=True, timeout=timeout
    )


def instructor(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    """A command of the instructor in the course root (as in a hub terminal: the hub sets
    NBGRADER_EXCHANGE_ROOT in every server)."""
    return as_user(
        INSTRUCTOR,
        *args,
        cwd=home(INSTRUCTOR) / COURSE_ID,
        env={"NBGRADER_EXCHANGE_ROOT": str(EXCHANGE)},
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (
        f"{result.args[-6:]}: exit {result.returncode}\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def denied(result: subprocess.CompletedProcess) -> str:
    """The command failed with a permission error (not for another reason)."""
    out = result.stdout + result.stderr
    assert result.returncode != 0, f"{result.args[-4:]} succeeded:\n{out[-2000:]}"
    assert re.search(r"Permission denied|Operation not permitted|PermissionError", out), out
    return out


# --------------------------------------------------------------------------- the hub


class Hub:
    def __init__(self, url: str, token: str, log: Path):
        self.url, self.log = url, log
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"token {token}"
        self.tokens: dict[str, str] = {}
        self.passwords: dict[str, str] = {}

    def hub_api(self, method: str, path: str, **kw) -> requests.Response:
        return self.api.request(method, f"{self.url}/hub/api{path}", timeout=60, **kw)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.hub_api("POST", f"/users/{user}/tokens", json={"note": "hubtest"})
            assert r.status_code in (200, 201), r.text
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def server(self, user: str, method: str, path: str, **kw) -> requests.Response:
        """A request to ``user``'s own server, through the proxy, with ``user``'s token."""
        headers = {"Authorization": f"token {self.token(user)}"}
        return requests.request(
            method, f"{self.url}/user/{user}/{path.lstrip('/')}", headers=headers, timeout=300, **kw
        )

    def start_servers(self, users) -> None:
        for user in users:
            r = self.hub_api("POST", f"/users/{user}/server")
            assert r.status_code in (201, 202, 400), r.text  # 400: already running
        deadline = time.monotonic() + 240
        waiting = set(users)
        while waiting and time.monotonic() < deadline:
            for user in sorted(waiting):
                model = self.hub_api("GET", f"/users/{user}").json()
                if model.get("servers", {}).get("", {}).get("ready"):
                    waiting.discard(user)
            time.sleep(1)
        assert not waiting, f"servers not ready: {waiting}\n{self.log.read_text()[-4000:]}"


def remove_test_users() -> None:
    for user in [*ROSTER, INSTRUCTOR]:
        if subprocess.run(["id", "-u", user], capture_output=True).returncode == 0:
            subprocess.run(["userdel", "--remove", "--force", user], capture_output=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    remove_test_users()
    shutil.rmtree(BASE, ignore_errors=True)
    BASE.mkdir(parents=True)
    BASE.chmod(0o755)
    state = tmp_path_factory.mktemp("hub-state")
    roster = state / "roster.csv"
    with open(roster, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "first_name", "last_name", "email"])
        for sid, (first, last) in ROSTER.items():
            out.writerow([sid, first, last, f"{first.lower()}@example.org"])
    env = dict(
        os.environ,
        DLOPT_HUB_PREFIX=str(PREFIX),
        DLOPT_HUB_EXCHANGE=str(EXCHANGE),
        DLOPT_HUB_STATE=str(state),
        DLOPT_HUB_ROSTER=str(roster),
        DLOPT_HUB_INSTRUCTOR=INSTRUCTOR,
    )
    setup = subprocess.run(
        ["bash", str(ROOT / "hub" / "setup")], env=env, capture_output=True, text=True, timeout=1800
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-5000:]

    hub = None
    passwords = {user: secrets.token_urlsafe(12) for user in [*ROSTER, INSTRUCTOR]}
    subprocess.run(
        ["chpasswd"],
        input="".join(f"{u}:{p}\n" for u, p in passwords.items()),
        text=True,
        check=True,
    )
    token = secrets.token_hex(32)
    port = free_port()
    config = state / "jupyterhub_test_config.py"
    config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(ROOT / 'hub' / 'jupyterhub_config.py')!r})  # noqa: F821\n"
        "# the tests' own service: starts servers and issues each user a token\n"
        f"c.JupyterHub.services = [{{'name': 'hubtest', 'api_token': {token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'hubtest', 'services': ['hubtest'], 'scopes': [\n"
        "    'admin:users', 'admin:servers', 'tokens', 'access:servers']}]\n"
    )
    env.update(
        DLOPT_HUB_BIND_URL=f"http://127.0.0.1:{port}",
        DLOPT_HUB_HUB_BIND_URL=f"http://127.0.0.1:{free_port()}",
        DLOPT_HUB_PROXY_API_URL=f"http://127.0.0.1:{free_port()}",
        PATH=f"{VENV / 'bin'}:{env['PATH']}",
    )
    log = state / "jupyterhub.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(VENV / "bin" / "jupyterhub"), "-f", str(config)],
            cwd=state,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        hub = Hub(f"http://127.0.0.1:{port}", token, log)
        hub.passwords = passwords
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{hub.url}/hub/api/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text()[-5000:]
            assert time.monotonic() < deadline, log.read_text()[-5000:]
            time.sleep(0.5)
        hub.start_servers([INSTRUCTOR, *ROSTER])
        yield hub
    finally:
        process.send_signal(signal.SIGTERM)  # the hub stops every user's server, then itself
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        artifacts = ROOT / "artifacts" / "hub"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, artifacts / "jupyterhub.log")


@pytest.fixture(scope="module")
def source_nb():
    return nbformat.read(ROOT / "exercises" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)


def answer(source_nb, grade_id: str) -> str:
    """The model answer of a cell, as a student would type it (no solution markers)."""
    cell = next(
        c for c in source_nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    return "\n".join(line for line in cell.source.splitlines() if "### " not in line)


def student_answers(student: str, source_nb) -> dict[str, str]:
    # an answer cell's grade_id is its exercise's name (the test cell's is "test_<name>")
    answers = {
        name: answer(source_nb, name) for name, e in EXERCISES.items() if e.assignment == ASSIGNMENT
    }
    if student == GRACE:
        answers[GRACE_MISTAKE.exercise] = GRACE_MISTAKE.source
    if student == ALAN:
        del answers[ALAN_SKIPS]
    answers[WRITTEN] = f"{student} writes: saturated units pass on almost no gradient."
    return answers


EDIT = """
import json, sys
import nbformat
path, answers = sys.argv[1], json.loads(sys.stdin.read())
nb = nbformat.read(path, 4)
for cell in nb.cells:
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    if gid in answers:
        cell.source = answers[gid]
nbformat.write(nb, path)
"""


def edit_as(student: str, answers: dict[str, str], assignment: str = ASSIGNMENT) -> None:
    """The student edits their fetched notebook (as their own Unix user)."""
    path = home(student) / assignment / f"{assignment}.ipynb"
    ok(as_user(student, VENV / "bin" / "python", "-c", EDIT, path, stdin=json.dumps(answers)))


# --------------------------------------------------------------------------- the class


def test_servers_run_as_their_users_with_dlopt_and_the_right_extensions(hub):
    for user in [INSTRUCTOR, *ROSTER]:
        model = hub.hub_api("GET", f"/users/{user}").json()
        assert model["servers"][""]["ready"]
    # the Formgrader's API exists on the instructor's server only
    assert hub.server(INSTRUCTOR, "GET", "formgrader/api/status").status_code == 200
    for student in ROSTER:
        assert hub.server(student, "GET", "formgrader/api/status").status_code == 404
        listing = hub.server(student, "GET", "assignments", params={"course_id": COURSE_ID})
        assert listing.status_code == 200, listing.text
    # JupyterLab's page config: the instructor's tools are off for students, on for her
    pages = {u: hub.server(u, "GET", "lab").text for u in (ADA, INSTRUCTOR)}
    disabled = {u: re.search(r'"disabledExtensions":\s*(\[[^\]]*\])', t) for u, t in pages.items()}
    assert disabled[ADA] and "@jupyter/nbgrader:formgrader" in disabled[ADA].group(1)
    assert "@jupyter/nbgrader:create-assignment" in disabled[ADA].group(1)
    assert not disabled[INSTRUCTOR] or "nbgrader" not in disabled[INSTRUCTOR].group(1)
    # MyST (citations, cross references, admonitions) renders in students' notebooks
    config = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', pages[ADA], re.S)
    extensions = {e["name"] for e in json.loads(config.group(1))["federated_extensions"]}
    assert "jupyterlab-myst" in extensions, sorted(extensions)
    # a student's Python is the hub's environment, with dlopt, run as the student
    probe = as_user(
        GRACE,
        "python",
        "-c",
        "import dlopt.grading, getpass, sys; print(getpass.getuser(), sys.prefix)",
    )
    assert ok(probe).stdout.split() == [GRACE, str(VENV)]


def test_instructor_imports_the_roster_and_releases(hub):
    roster = home(INSTRUCTOR) / COURSE_ID / "roster.csv"
    with open(roster, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "first_name", "last_name", "email"])
        for sid, (first, last) in ROSTER.items():
            out.writerow([sid, first, last, f"{first.lower()}@example.org"])
    shutil.chown(roster, INSTRUCTOR, INSTRUCTOR)
    ok(instructor("nbgrader", "db", "student", "import", "roster.csv"))
    for assignment in (ASSIGNMENT, BROWSER_ASSIGNMENT):
        ok(instructor("nbgrader", "generate_assignment", assignment))
        ok(instructor("nbgrader", "release_assignment", assignment))
    # nbgrader did not widen the exchange (#1225): root's, 0755, as hub/setup made it
    st = EXCHANGE.stat()
    assert (st.st_uid, oct(st.st_mode & 0o7777)) == (0, "0o755")
    listed = hub.server(ADA, "GET", "assignments", params={"course_id": COURSE_ID}).json()
    assert {a["assignment_id"] for a in listed["value"]} >= {ASSIGNMENT, BROWSER_ASSIGNMENT}


def test_students_fetch_edit_validate_and_submit(hub, source_nb):
    form = {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}

    def through_the_server():  # Ada: the calls of the Assignments tab and Validate button
        r = hub.server(ADA, "POST", "assignments/fetch", data=form)
        assert r.status_code == 200, r.text
        edit_as(ADA, student_answers(ADA, source_nb))
        r = hub.server(
            ADA, "POST", "assignments/validate", data={"path": f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"}
        )
        assert r.status_code == 200 and r.json()["success"], r.text
        assert "failed" not in json.dumps(r.json()["value"]).lower()
        r = hub.server(ADA, "POST", "assignments/submit", data=form)
        assert r.status_code == 200 and r.json()["success"], r.text
        assert any(
            a.get("status") == "submitted" and a["assignment_id"] == ASSIGNMENT
            for a in r.json()["value"]
        ), r.text

    def with_the_commands(student):  # Grace and Alan: nbgrader, as their Unix users
        ok(as_user(student, "nbgrader", "fetch_assignment", ASSIGNMENT))
        edit_as(student, student_answers(student, source_nb))
        validate = as_user(student, "nbgrader", "validate", f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
        assert "failed" in validate.stdout.lower(), validate.stdout  # each left a test failing
        ok(as_user(student, "nbgrader", "submit", ASSIGNMENT))

    # the three work at the same time, as a class does
    with ThreadPoolExecutor(3) as pool:
        done = [
            pool.submit(through_the_server),
            pool.submit(with_the_commands, GRACE),
            pool.submit(with_the_commands, ALAN),
        ]
        for future in done:
            future.result()
    for student in (ADA, GRACE, ALAN):  # one submission each, made by its student
        inbound_of(student)


def test_another_student_cannot_submit_in_a_classmates_name(hub):
    # Grace submits a blank notebook as Ada, later than Ada: nbgrader would collect it
    released = home(INSTRUCTOR) / COURSE_ID / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    shutil.copy(released, BASE / "blank.ipynb")
    (BASE / "blank.ipynb").chmod(0o644)
    fake = home(GRACE) / "fake" / ASSIGNMENT
    ok(as_user(GRACE, "mkdir", "-p", fake))
    ok(as_user(GRACE, "cp", BASE / "blank.ipynb", fake / f"{ASSIGNMENT}.ipynb"))
    time.sleep(1.1)  # a later timestamp than Ada's
    ok(as_user(GRACE, "nbgrader", "submit", ASSIGNMENT, f"--student={ADA}", cwd=fake.parent))
    made = [
        p
        for p in (EXCHANGE / COURSE_ID / "inbound").iterdir()
        if p.name.startswith(f"{ADA}+") and p.owner() == GRACE
    ]
    assert len(made) == 1  # it is there, in Ada's name; collect must ignore it


def test_instructor_collects_autogrades_and_grades_by_hand(hub):
    collect = ok(instructor("nbgrader", "collect", ASSIGNMENT))
    assert re.search(rf"Skipping .*{ADA}\+.* made it", collect.stdout + collect.stderr)
    submitted = home(INSTRUCTOR) / COURSE_ID / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted([ADA, GRACE, ALAN])
    ada_nb = (submitted / ADA / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    assert f"{ADA} writes" in ada_nb  # Ada's own, not Grace's forgery
    ok(instructor("python", "-m", "dlopt.grading.autograde_class", ASSIGNMENT, "--jobs", "2"))

    # the written answer, through the Formgrader's REST API on the instructor's server
    subs = hub.server(
        INSTRUCTOR, "GET", f"formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}"
    ).json()
    assert sorted(s["student"] for s in subs) == sorted([ADA, GRACE, ALAN])
    for sub in subs:
        grades = hub.server(
            INSTRUCTOR, "GET", "formgrader/api/grades", params={"submission_id": sub["id"]}
        ).json()
        written = next(g for g in grades if g["name"] == WRITTEN)
        assert written["needs_manual_grade"]
        r = hub.server(
            INSTRUCTOR,
            "PUT",
            f"formgrader/api/grade/{written['id']}",
            json={"manual_score": MANUAL[sub["student"]]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["manual_score"] == MANUAL[sub["student"]], r.text


def test_feedback_goes_back_to_each_student_only(hub):
    ok(instructor("nbgrader", "generate_feedback", ASSIGNMENT))
    ok(instructor("nbgrader", "release_feedback", ASSIGNMENT))
    r = hub.server(
        ADA,
        "POST",
        "assignments/fetch_feedback",
        data={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT},
    )
    assert r.status_code == 200, r.text
    with ThreadPoolExecutor(2) as pool:
        for result in pool.map(
            lambda s: as_user(s, "nbgrader", "fetch_feedback", ASSIGNMENT), (GRACE, ALAN)
        ):
            ok(result)
    for student in (ADA, GRACE, ALAN):
        pages = list((home(student) / ASSIGNMENT / "feedback").rglob(f"{ASSIGNMENT}.html"))
        assert len(pages) == 1, pages
        text = pages[0].read_text()
        assert f"{student} writes" in text  # their own notebook, graded
        for other in {ADA, GRACE, ALAN} - {student}:
            assert f"{other} writes" not in text


def test_grades_export_with_the_rosters_names(hub):
    ok(instructor("nbgrader", "export"))
    with open(home(INSTRUCTOR) / COURSE_ID / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == ASSIGNMENT}
    assert set(rows) == set(ROSTER)
    for sid, (first, last) in ROSTER.items():
        assert (rows[sid]["first_name"], rows[sid]["last_name"]) == (first, last)
        assert rows[sid]["email"] == f"{first.lower()}@example.org"
    max_score = float(rows[ADA]["max_score"])
    assert max_score == 21.0
    lost = {ADA: 0.0, GRACE: 4.0, ALAN: 3.0}  # sigmoid_layer's and relu_layer's points
    for sid in (ADA, GRACE, ALAN):
        assert float(rows[sid]["score"]) == max_score - 5.0 - lost[sid] + MANUAL[sid], rows[sid]
    assert float(rows[LIN]["score"]) == 0.0  # did not submit this one


# --------------------------------------------------------------------------- isolation


def inbound_of(student: str) -> Path:
    found = [
        p
        for p in (EXCHANGE / COURSE_ID / "inbound").iterdir()
        if p.name.startswith(f"{student}+{ASSIGNMENT}+") and p.owner() == student
    ]
    assert found, student
    return found[0]


def test_a_student_cannot_read_or_alter_another_students_submission(hub):
    theirs = inbound_of(ADA)
    notebook = theirs / f"{ASSIGNMENT}.ipynb"
    # even knowing the folder's unlisted name: no reading, writing, renaming or deleting
    denied(as_user(GRACE, "ls", EXCHANGE / COURSE_ID / "inbound"))
    denied(as_user(GRACE, "cat", notebook))
    denied(as_user(GRACE, "cat", theirs / "submission_secret.txt"))  # the key to her feedback
    denied(as_user(GRACE, "sh", "-c", f"echo x >> '{notebook}'"))
    denied(as_user(GRACE, "touch", theirs / "planted.txt"))
    denied(as_user(GRACE, "mv", theirs, EXCHANGE / COURSE_ID / "inbound" / "gone"))
    denied(as_user(GRACE, "rm", "-rf", theirs))
    assert notebook.exists() and f"{ADA} writes" in notebook.read_text()
    # the instructors' group reads it (that is how collect worked above)
    assert theirs.group() == "dlopt-instructors"
    assert oct(theirs.stat().st_mode & 0o777) == "0o750"


def test_a_student_cannot_read_or_alter_another_students_feedback(hub):
    feedback = EXCHANGE / COURSE_ID / "feedback"
    denied(as_user(GRACE, "ls", feedback))  # names are hashes of each submission's secret
    theirs = next(p for p in feedback.iterdir() if f"{ADA} writes" in p.read_text())
    denied(as_user(GRACE, "sh", "-c", f"echo x >> '{theirs}'"))
    denied(as_user(GRACE, "rm", "-f", theirs))
    denied(as_user(GRACE, "mv", theirs, feedback / "mine.html"))
    # and the copy Ada fetched lies in her private home
    denied(as_user(GRACE, "ls", home(ADA) / ASSIGNMENT / "feedback"))
    # fetch_feedback as Grace brings Grace's feedback only (asserted above); Ada's secret is
    # in Ada's submission and in Ada's nbgrader cache, both unreadable to Grace
    denied(as_user(GRACE, "ls", home(ADA) / ".local" / "share" / "jupyter"))


def test_a_student_cannot_see_the_fetched_copies_of_others(hub):
    denied(as_user(GRACE, "ls", home(ADA)))
    denied(as_user(GRACE, "ls", home(ADA) / ASSIGNMENT))
    denied(as_user(GRACE, "cat", home(ADA) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    denied(as_user(GRACE, "cp", "-r", home(ALAN) / ASSIGNMENT, home(GRACE) / "copied"))
    assert oct(home(ADA).stat().st_mode & 0o777) == "0o700"


def test_a_student_cannot_rename_delete_or_add_courses_and_releases(hub):
    course = EXCHANGE / COURSE_ID
    denied(as_user(GRACE, "mv", course, EXCHANGE / "renamed"))
    denied(as_user(GRACE, "rm", "-rf", course))
    denied(as_user(GRACE, "mkdir", EXCHANGE / "another-course"))
    denied(as_user(GRACE, "mkdir", course / "outbound" / "fake-assignment"))
    released = course / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    denied(as_user(GRACE, "sh", "-c", f"echo x >> '{released}'"))
    denied(as_user(GRACE, "rm", "-rf", course / "outbound" / ASSIGNMENT))
    denied(as_user(GRACE, "mv", course / "feedback", course / "old-feedback"))
    assert released.exists() and (course / "inbound").exists()


def test_a_student_cannot_reach_the_course_root_or_the_gradebook(hub):
    root = home(INSTRUCTOR) / COURSE_ID
    denied(as_user(GRACE, "ls", home(INSTRUCTOR)))
    denied(as_user(GRACE, "ls", root / "source"))
    denied(as_user(GRACE, "cat", root / "gradebook.db"))
    denied(as_user(GRACE, "cat", root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    opened = as_user(
        GRACE,
        "python",
        "-c",
        f"from nbgrader.api import Gradebook; Gradebook('sqlite:///{root}/gradebook.db')",
    )
    assert opened.returncode != 0
    # nor through the Formgrader: a student's server has none, and a student's token is
    # refused on the instructor's server
    r = requests.get(
        f"{hub.url}/user/{INSTRUCTOR}/formgrader/api/status",
        timeout=60,
        headers={"Authorization": f"token {hub.token(GRACE)}"},
        allow_redirects=False,
    )
    assert r.status_code in (302, 403, 404), r.status_code


# --------------------------------------------------------------------------- the browser


def test_a_student_works_in_jupyterlab_in_a_real_browser(hub):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    shots = ROOT / "artifacts" / "hub"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        try:
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", LIN)
            page.fill("#password_input", hub.passwords[LIN])
            page.click("#login_submit")
            page.wait_for_url(re.compile(rf"/user/{LIN}/lab"))
            page.wait_for_selector("#jp-main-dock-panel")
            # the Assignments tab: Nbgrader menu > Assignment List
            page.get_by_role("menuitem", name="Nbgrader").click()
            page.get_by_text("Assignment List").click()
            released = page.locator("#released_assignments_list")
            row = released.locator(".list_item", has_text=BROWSER_ASSIGNMENT)
            row.get_by_role("button", name="Fetch").click()
            fetched = page.locator("#fetched_assignments_list")
            row = fetched.locator(
                ".list_item:not(.nested_list_item)", has_text=BROWSER_ASSIGNMENT
            ).first
            expect(row).to_be_visible(timeout=60_000)
            assert (home(LIN) / BROWSER_ASSIGNMENT / f"{BROWSER_ASSIGNMENT}.ipynb").exists()
            page.screenshot(path=str(shots / "assignments-tab.png"))
            # the assignment's notebooks: open it, run every cell
            row.locator("a.assignment-notebooks-link").click()
            notebook = fetched.locator(".nested_list_item", has_text=BROWSER_ASSIGNMENT)
            notebook.get_by_role("link", name=BROWSER_ASSIGNMENT).click()
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
            select_kernel = page.locator(".jp-Dialog").get_by_role("button", name="Select")
            try:  # JupyterLab may ask which kernel to start: the environment's Python 3
                select_kernel.click(timeout=20_000)
            except PlaywrightTimeout:
                pass
            expect(
                page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).first
            ).to_be_visible(timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            expect(page.locator(".jp-NotebookPanel .jp-OutputArea-output").first).to_be_visible(
                timeout=120_000
            )
            page.screenshot(path=str(shots / "notebook-run.png"))
            # back in the Assignments tab: Validate the notebook, then Submit the assignment
            page.locator(".lm-TabBar-tab", has_text="Assignments").first.click()
            notebook.get_by_role("button", name="Validate").click()
            dialog = page.locator(".jp-Dialog")
            expect(dialog).to_be_visible(timeout=180_000)
            expect(dialog).to_contain_text(re.compile(r"fail|pass|valid", re.I))
            page.screenshot(path=str(shots / "validate.png"))
            dialog.get_by_role("button").last.click()
            row.get_by_role("button", name="Submit").click()
            submitted = page.locator("#submitted_assignments_list")
            expect(
                submitted.locator(".list_item", has_text=BROWSER_ASSIGNMENT).first
            ).to_be_visible(timeout=120_000)
            page.screenshot(path=str(shots / "submitted.png"))
        except Exception:
            page.screenshot(path=str(shots / "browser-failure.png"))
            raise
        finally:
            browser.close()
    made = [
        p
        for p in (EXCHANGE / COURSE_ID / "inbound").iterdir()
        if p.name.startswith(f"{LIN}+{BROWSER_ASSIGNMENT}+")
    ]
    assert len(made) == 1 and made[0].owner() == LIN
    assert (made[0] / f"{BROWSER_ASSIGNMENT}.ipynb").exists()


# --------------------------------------------------------------------------- one command


def test_hub_start_is_the_one_command(hub, tmp_path):
    """``hub/start`` (setup, then JupyterHub in the foreground) serves the hub and stops on
    SIGTERM; run here beside the class's hub, on ports of its own."""
    state = tmp_path / "state"
    port = free_port()
    env = dict(
        os.environ,
        DLOPT_HUB_PREFIX=str(PREFIX),
        DLOPT_HUB_EXCHANGE=str(EXCHANGE),
        DLOPT_HUB_STATE=str(state),
        DLOPT_HUB_BIND_URL=f"http://127.0.0.1:{port}",
        DLOPT_HUB_HUB_BIND_URL=f"http://127.0.0.1:{free_port()}",
        DLOPT_HUB_PROXY_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    roster = next(Path(hub.log).parent.glob("roster.csv"))
    log = tmp_path / "start.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                "bash",
                str(ROOT / "hub" / "start"),
                "--roster",
                str(roster),
                "--instructor",
                INSTRUCTOR,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/hub/login", timeout=5)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(1)
        assert "Sign in" in r.text or "login" in r.text.lower()
        assert (state / "jupyterhub.sqlite").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=60) is not None
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise

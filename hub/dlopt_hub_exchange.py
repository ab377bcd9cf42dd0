"""nbgrader exchange classes for the course's hub: a shared exchange that keeps students apart.

nbgrader 0.9.6's own exchange leaves each submission folder mode 0777 with world-readable
files, hidden only by an unlisted name, and ``nbgrader collect`` takes the newest folder
named after a student even when another user made it (it only logs "cheating attempt?").
hub/setup installs this module into the hub's environment and names these classes in its
``nbgrader_config.py`` (``ExchangeFactory.submit`` and ``ExchangeFactory.collect``):

- ``PrivateSubmit`` submits as nbgrader does, then closes the submission's folder to all
  but its owner and the instructors' group (mode 0750; the inbound folder's set-group-id
  bit gave the folder that group): no other student can enter it, so none can read its
  notebooks or its ``submission_secret.txt`` (the key to its feedback's file name), or
  alter them, even knowing its name. (The files keep nbgrader's mode 0644: a student cannot
  give a file the instructors' group, and the folder is the wall.)
- ``OwnerCheckedCollect`` collects, for each student, the newest submission *owned by that
  student's Unix user*: a folder another user made in the student's name is skipped and
  logged, so nobody can replace a classmate's submission with a later one.
"""

from __future__ import annotations

import glob
import os
import pwd
import stat

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.submit import ExchangeSubmit

DIR_MODE = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP  # 0750


class PrivateSubmit(ExchangeSubmit):
    """``nbgrader submit`` whose submission only its owner and the instructors can read."""

    def copy_files(self):
        super().copy_files()
        folder = os.path.join(self.inbound_path, self.assignment_filename)
        for dirpath, _, _ in os.walk(folder):
            os.chmod(dirpath, DIR_MODE)
        if os.stat(folder).st_gid != os.stat(self.inbound_path).st_gid:
            self.log.warning(
                "%s is not in the inbound folder's group: the instructors may "
                "not be able to collect it (is inbound set-group-id?)",
                folder,
            )
        self.log.info("Submission readable by you and the instructors only: %s", folder)


def owner_name(path: str) -> str:
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except KeyError:
        return "<unknown user>"


class OwnerCheckedCollect(ExchangeCollect):
    """``nbgrader collect`` that ignores submissions made in another user's name."""

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        by_student: dict[str, list[dict]] = {}
        for path in glob.glob(pattern):
            record = self._path_to_record(path)
            owner = owner_name(path)
            if owner != record["username"]:
                self.log.warning(
                    "Skipping %s: it claims to be %s's submission but %s made it",
                    path,
                    record["username"],
                    owner,
                )
                continue
            by_student.setdefault(record["username"], []).append(record)

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for records in by_student.values():
            newest_first = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:
                on_time = [r for r in newest_first if r["timestamp"] <= self.duedate]
                newest_first = on_time or newest_first
            self.src_records.append(newest_first[0])

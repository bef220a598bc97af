"""The process that grades one notebook: ``python -m course_lib.grading.worker``.

:func:`course_lib.grading.runner.grade_notebook` starts one per notebook and writes the
request (the notebook's text, its exercise ids, the limits, where to put the report) to its
stdin as JSON. The worker makes itself the subreaper of everything the notebook starts,
grades the notebook, kills every process left, and only then writes the report to the file
named in the request (atomically): no process of the notebook exists any more to touch it.
SIGTERM (the notebook ran too long) kills those processes too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from course_lib.grading import runner, sandbox

__all__ = ["main"]


def _write(path: Path, document: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    os.replace(temporary, path)


def _terminate(signum, frame) -> None:
    sandbox.kill_descendants()
    os._exit(3)


def main() -> int:
    """Grade the notebook described on stdin; return the exit status (0 once a report is written)."""
    request = json.loads(sys.stdin.read())
    sandbox.become_subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    result = Path(request["result"])
    try:
        report = runner._grade_here(Path(request["path"]), request["text"], request["ids"], request["timeout"],
                                    memory_limit=request["memory_limit"], output_limit=request["output_limit"],
                                    reap=True)
        document = {"report": report.to_dict()}
    except runner.NotebookError as error:  # no exercises, or an unknown id: the caller raises it
        document = {"notebook_error": str(error)}
    except Exception as error:  # no kernel could be started, ...: the caller reports it for this notebook
        document = {"error": f"{type(error).__name__}: {error}"}
    sandbox.kill_descendants()  # before the report exists, so that nothing left can rewrite it
    _write(result, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())

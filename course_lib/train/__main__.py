"""``python -m course_lib.train`` and ``torchrun -m course_lib.train``: run ``course-train``."""

import sys

from course_lib.train.cli import main

sys.exit(main())

"""`python -m rotation_doctor`: the `rotation-doctor` command."""

import sys

from rotation_doctor.cli.main import main

sys.exit(main())

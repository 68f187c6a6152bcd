"""python -m gradviz diagnose run.csv: see gradviz.cli."""

from gradviz.cli import main

raise SystemExit(main())

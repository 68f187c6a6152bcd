"""python -m gradviz diagnose run.csv: see gradviz.cli."""

from gradviz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m tuning`: the same as the `tuning` command."""

from tuning.cli import main

raise SystemExit(main())

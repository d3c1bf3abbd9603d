"""`python -m minitx`: the same as the `minitx` command."""
from .cli import main

raise SystemExit(main())

"""``python -m workbench`` (and ``torchrun -m workbench train ...``) run the command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Run smartbuild as ``python -m smartbuild``."""

from smartbuild.cli import main

if __name__ == "__main__":
    main()

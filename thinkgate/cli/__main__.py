"""`python -m thinkgate.cli ...`: the same command line as the `thinkgate` script."""

from . import app

if __name__ == "__main__":  # pragma: no cover
    app()

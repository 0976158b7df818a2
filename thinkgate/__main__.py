"""`python -m thinkgate ...`: the same command line as the `thinkgate` script."""

from .cli import app

if __name__ == "__main__":  # pragma: no cover
    app()

"""`python -m thinkgate` is the `thinkgate` command."""

from .cli import app

if __name__ == "__main__":  # pragma: no cover
    app()

"""The command line: `thinkgate ask | render | bench | calibrate | serve | train sft|bpo|tiny | tasks export`.

One module per command; `common` holds the apps, the shared options and the helpers. Importing the package
registers the commands on `app` (the `thinkgate` script's entry point)."""

from . import ask, bench, calibrate, serve, tasks, train  # noqa: F401 - each registers its commands
from .common import app

__all__ = ["app"]

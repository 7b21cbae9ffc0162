"""The command line's exit codes (contract.md): what scripts and schedulers read."""

from __future__ import annotations

EXIT_OK = 0  # done
EXIT_FAILED = 1  # a step failed, or the warehouse or the API could not be reached
EXIT_CONFIG = 2  # a configuration or argument error: the user must fix something
EXIT_UNANSWERED = 3  # finished, but items stayed unanswered after every retry
EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C

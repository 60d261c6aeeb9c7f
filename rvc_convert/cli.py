"""rvc-convert command line. `rvc-convert MODEL` converts; sub-commands inspect, validate, ... do the rest.

Every command prints for people by default and a JSON document with --json. Errors are one line
on stderr (and a JSON error object on stdout with --json) with the exit codes of errors.py. The
commands themselves live in rvc_convert/commands/, one module each.
"""

from __future__ import annotations

import os
import sys

# One BLAS thread for numpy's OpenBLAS too, unless the user says otherwise: set before numpy is
# imported (OpenBLAS reads it once). Measured (docs/blas.md): a second thread loses on 2 shared
# cores, and starting it costs ~30 ms CPU / up to 0.1 s wall on every run.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .commands import command_names, fastpath, load_commands
from .commands.output import CommandExit, begin_run, echo, emit_json, json_emitted
from .errors import EXIT_CODES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, RvcConvertError
from .lifecycle import Terminated, install_termination_handlers

CLICK_USAGE_EXIT = 2  # what click exits with on a usage error

DEFAULT_COMMAND = "convert"


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns (and exits with) one of the documented exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    begin_run()
    # `rvc-convert MODEL ...` means `rvc-convert convert MODEL ...`.
    if argv and argv[0] not in command_names() and argv[0] not in ("--help", "-h", "--version"):
        argv.insert(0, DEFAULT_COMMAND)
    try:
        fast = fastpath.parse(argv)
        if fast is not None:  # a plain convert command line: no typer needed (fastpath.py)
            fastpath.run_convert(**fast)
        else:
            import typer

            command = typer.main.get_command(load_commands())
            # Standalone mode: click prints usage errors itself and exits with 2, which we report as 4.
            command.main(args=argv, prog_name="rvc-convert", standalone_mode=True)
        code = EXIT_OK
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        if code == CLICK_USAGE_EXIT:
            code = EXIT_USAGE
    except CommandExit as exc:
        code = exc.code
    except RvcConvertError as exc:
        code = exc.exit_code
        _report_error(argv, exc.kind, str(exc), code)
    except KeyboardInterrupt:
        code = 130
        echo("rvc-convert: interrupted", err=True)
    except Terminated as exc:  # SIGTERM/SIGHUP: every staging folder is gone by now (finally blocks ran)
        code = 128 + exc.signum
        echo(f"rvc-convert: terminated by signal {exc.signum}; its staging folder was removed, nothing half-published", err=True)
    except Exception as exc:  # a bug in rvc-convert, not in the user's input: still one line, no partial output
        code = EXIT_INTERNAL
        if os.environ.get("RVC_CONVERT_DEBUG"):
            raise
        _report_error(argv, "internal", f"internal error {type(exc).__name__}: {exc} (a bug in rvc-convert; please report it; RVC_CONVERT_DEBUG=1 shows the traceback)", code)
    return code


def _report_error(argv: list[str], kind: str, message: str, code: int) -> None:
    echo(f"rvc-convert: error: {message}", err=True)
    if _wants_json(argv) and not json_emitted():  # one JSON document per run: a report already printed says it all
        emit_json({"schema": "rvc-convert/error/1", "ok": False, "error": {"kind": kind, "message": message, "exit_code": code, "meaning": EXIT_CODES.get(code, "")}})


def entry_point() -> None:
    install_termination_handlers()  # the program's own process only (not a caller of main())
    sys.exit(main())


if __name__ == "__main__":
    entry_point()

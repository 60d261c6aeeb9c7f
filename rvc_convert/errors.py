"""Typed user-facing errors. Each carries an exit code and a one-line message: cause, evidence, fix."""

from __future__ import annotations

# One table of exit codes for every command (documented in README.md).
EXIT_OK = 0
EXIT_VALIDATION_FAILED = 1
EXIT_UNSUPPORTED = 2  # not a model we know, unmapped / missing / mis-shaped tensor
EXIT_UNSAFE = 3  # the file asks for code execution or is built to exhaust resources
EXIT_USAGE = 4  # bad flags or arguments
EXIT_IO = 5  # missing, unreadable, truncated or corrupt file; cannot write output
EXIT_INTERNAL = 70  # a bug in rvc-convert itself (sysexits EX_SOFTWARE)

EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_VALIDATION_FAILED: "validation failed",
    EXIT_UNSUPPORTED: "unsupported model or unmapped tensor",
    EXIT_UNSAFE: "unsafe input refused",
    EXIT_USAGE: "usage error",
    EXIT_IO: "I/O error or corrupt file",
    EXIT_INTERNAL: "internal error (a bug in rvc-convert)",
}


class RvcConvertError(Exception):
    """Base class: every error the tool raises on purpose."""

    exit_code = EXIT_UNSUPPORTED
    kind = "error"

    def __init__(self, message: str, finding: str | None = None):
        # Errors are printed on one line; keep them that way even if a caller passes newlines.
        super().__init__(" ".join(message.split()))
        # The named diagnosis `validate` reports for this error (e.g. "discriminator").
        self.finding = finding or self.kind

    @property
    def message(self) -> str:
        return str(self)


class UnsafeInputError(RvcConvertError):
    exit_code = EXIT_UNSAFE
    kind = "unsafe_input"


class CorruptFileError(RvcConvertError):
    exit_code = EXIT_IO
    kind = "corrupt_file"


class InputIOError(RvcConvertError):
    exit_code = EXIT_IO
    kind = "io"


class UnsupportedModelError(RvcConvertError):
    exit_code = EXIT_UNSUPPORTED
    kind = "unsupported"


class MappingError(RvcConvertError):
    """Coverage or shape failure while planning: unmapped, missing or mis-shaped tensors."""

    exit_code = EXIT_UNSUPPORTED
    kind = "mapping"


class RulePackError(RvcConvertError):
    exit_code = EXIT_UNSUPPORTED
    kind = "rule_pack"


class UsageError(RvcConvertError):
    exit_code = EXIT_USAGE
    kind = "usage"


class ValidationFailedError(RvcConvertError):
    exit_code = EXIT_VALIDATION_FAILED
    kind = "validation"


class ModelMismatchError(UnsupportedModelError):
    """Models that each convert but cannot work together in one voice-conversion chain (a voice and a
    content model or index of different feature sizes, a voice and pitch options that do not apply)."""

    kind = "mismatch"

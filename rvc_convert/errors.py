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
    """Base class: every error the tool raises on purpose. A subclass states its exit code and kind
    in its class line: `class UsageError(RvcConvertError, exit_code=EXIT_USAGE, kind="usage")`."""

    exit_code = EXIT_UNSUPPORTED
    kind = "error"

    def __init_subclass__(cls, exit_code: int | None = None, kind: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code
        if kind is not None:
            cls.kind = kind

    def __init__(self, message: str, finding: str | None = None):
        # Errors are printed on one line; keep them that way even if a caller passes newlines.
        super().__init__(" ".join(message.split()))
        # The named diagnosis `validate` reports for this error (e.g. "discriminator").
        self.finding = finding or self.kind

    @property
    def message(self) -> str:
        return str(self)


class UnsafeInputError(RvcConvertError, exit_code=EXIT_UNSAFE, kind="unsafe_input"):
    """The file asks for code execution or is built to exhaust resources."""


class CorruptFileError(RvcConvertError, exit_code=EXIT_IO, kind="corrupt_file"):
    """Truncated, damaged or self-contradicting bytes."""


class InputIOError(RvcConvertError, exit_code=EXIT_IO, kind="io"):
    """A file that is missing or unreadable, or an output that cannot be written."""


class UnsupportedModelError(RvcConvertError, exit_code=EXIT_UNSUPPORTED, kind="unsupported"):
    """A model rvc-convert does not know, or one of a known family it cannot convert."""


class MappingError(RvcConvertError, exit_code=EXIT_UNSUPPORTED, kind="mapping"):
    """Coverage or shape failure while planning: unmapped, missing or mis-shaped tensors."""


class RulePackError(RvcConvertError, exit_code=EXIT_UNSUPPORTED, kind="rule_pack"):
    """A rule pack that is unknown, invalid or does not fit its family."""


class UsageError(RvcConvertError, exit_code=EXIT_USAGE, kind="usage"):
    """Bad flags, arguments or spec fields."""


class ValidationFailedError(RvcConvertError, exit_code=EXIT_VALIDATION_FAILED, kind="validation"):
    """A converted file failed a check."""


class ModelMismatchError(UnsupportedModelError, kind="mismatch"):
    """Models that each convert but cannot work together in one voice-conversion chain (a voice and a
    content model or index of different feature sizes, a voice and pitch options that do not apply)."""

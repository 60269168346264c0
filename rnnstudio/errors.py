"""Errors a user can fix: each says where, what is wrong and how to fix it.

Every stage raises these instead of letting a library traceback through; the
command line prints them and exits with code 2, the app shows them beside the
input.
"""

from __future__ import annotations


class StudioError(Exception):
    """A problem with the user's input or settings, in words the user understands.

    Args:
        message: What is wrong, one sentence.
        fix: How to fix it, one sentence.
        file: The file the problem is in, if any.
        row: 1-based line or row number in that file, if known.
        column: Column name, if known.
        field: Dotted Recipe field (``preprocess.horizon``), if the problem is a setting.
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        field: str | None = None,
    ):
        self.message = message
        self.fix = fix
        self.file = file
        self.row = row
        self.column = column
        self.field = field
        super().__init__(str(self))

    @property
    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.field:
            parts.append(f"setting '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def to_dict(self) -> dict:
        return {
            "message": self.message,
            "fix": self.fix,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "field": self.field,
        }


class DataError(StudioError):
    """The data file cannot be used as it is."""


class RecipeError(StudioError):
    """One or more Recipe settings are invalid; ``problems`` lists every one."""

    def __init__(self, problems: list[StudioError]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else StudioError("invalid recipe")
        super().__init__(
            first.message, fix=first.fix, field=first.field, file=first.file,
            row=first.row, column=first.column,
        )

    def __str__(self) -> str:
        if len(self.problems) <= 1:
            return super().__str__()
        lines = [f"{len(self.problems)} problems in the recipe:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class RunError(StudioError):
    """A run cannot be found, started or resumed."""

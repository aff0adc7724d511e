"""The parser class and the value types of the flags: each type checks its value the same
way whether it comes from the command line or from an mlx-lm YAML config (`-c`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, and no flag is taken for
    an abbreviation of another (mlx-lm's `--test` is not `--test-batches`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        sys.stderr.write(f"ppltop: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


class ConfigValueError(ValueError):
    """A value of the right kind but out of range, or of the wrong kind: the reason only;
    the caller names the flag or the config key."""


class _Bounded:
    """A numeric flag: text parsed by `convert`, then `check`ed (a ConfigValueError names
    what is wrong with the value; the flag is named here)."""

    kind = "a number"
    flag = ""

    @staticmethod
    def convert(text: str):
        raise NotImplementedError

    def check(self, value):
        raise NotImplementedError

    def __call__(self, text: str):
        try:
            value = self.convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{self.flag} {text!r}: expected {self.kind}") from exc
        try:
            return self.check(value)
        except ConfigValueError as e:
            raise argparse.ArgumentTypeError(f"{self.flag} {value}: {e}") from e


class WholeNumber(_Bounded):
    """An int flag: at least `minimum` (or one of `allow`), at most `maximum`."""

    kind = "a whole number"
    convert = staticmethod(int)

    def __init__(self, flag: str, minimum: int, allow: tuple[int, ...] = (),
                 maximum: int | None = None) -> None:
        self.flag, self.minimum, self.allow, self.maximum = flag, minimum, allow, maximum

    def check(self, value) -> int:
        if type(value) is not int:
            raise ConfigValueError(f"expected {self.kind}")
        if value < self.minimum and value not in self.allow:
            extra = f" (or {', '.join(map(str, self.allow))})" if self.allow else ""
            raise ConfigValueError(f"must be at least {self.minimum}{extra}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigValueError(f"must be at most {self.maximum}")
        return value


class Number(_Bounded):
    """A float flag between `low` and `high`."""

    convert = staticmethod(float)

    def __init__(self, flag: str, low: float, high: float) -> None:
        self.flag, self.low, self.high = flag, low, high

    def check(self, value) -> float:
        if type(value) not in (int, float):
            raise ConfigValueError(f"expected {self.kind}")
        if not self.low <= value <= self.high:  # nan fails too
            raise ConfigValueError(f"must be between {self.low} and {self.high}")
        return float(value)


class Size:
    """A memory size: `8G`, `512M`, or bytes."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, text: str) -> int:
        from ..core.errors import InputError
        from ..core.model.memory import parse_size

        try:
            return parse_size(text, self.flag)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from e


class SplitList:
    """`--split`'s value: one split or a comma list of them (`valid,test`), each once."""

    def __call__(self, text: str) -> tuple[str, ...]:
        from ..core.config import SPLITS

        names = tuple(part.strip() for part in text.split(","))
        wrong = [n for n in names if n not in SPLITS]
        if wrong or not names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {wrong[0] if wrong else text!r} (choose from "
                f"{', '.join(SPLITS)}, or several: valid,test)")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{text!r}: each split once (valid,test)")
        return names


class CheckpointChoice:
    """`--checkpoints`' value: all, every=N or last=K."""

    def __call__(self, text: str) -> str:
        from ..core.checkpoint_files import check_choice

        try:
            return check_choice(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e


class PathValue:
    """A path (or Hugging Face id) given as text; `blank_is_none`: "" means none, as
    mlx-lm's `--adapter-path ""` (which `Path` would read as the current folder)."""

    kind = "a path (text)"

    def __init__(self, blank_is_none: bool = False) -> None:
        self.blank_is_none = blank_is_none

    def check(self, value) -> Path | None:
        if not isinstance(value, str):
            raise ConfigValueError(f"expected {self.kind}")
        return self(value)

    def __call__(self, text: str) -> Path | None:
        if self.blank_is_none and not text.strip():
            return None
        return Path(text)


class Text:
    """A non-empty string (a config-only value such as mlx-lm's `prompt_feature`)."""

    kind = "a non-empty string"

    def check(self, value) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigValueError(f"expected {self.kind}")
        return value


class Flag:
    """An on/off value (a `store_true` flag on the command line)."""

    kind = "true or false"

    def check(self, value) -> bool:
        if type(value) is not bool:
            raise ConfigValueError(f"expected {self.kind}")
        return value


class IndexList:
    """Comma-separated whole numbers (`--examples 3,17,40`): split indices."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __call__(self, text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{self.flag} {text!r}: expected whole numbers "
                                             "separated by commas, like 3,17,40") from exc
        if not values or min(values) < 0:
            raise argparse.ArgumentTypeError(f"{self.flag} {text!r}: expected split indices "
                                             "(0 or more) separated by commas")
        return values

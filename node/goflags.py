"""Go's `flag` package command-line syntax, for lpnode's go-livepeer commands (orchestrator,
gateway, transcoder, ai-worker), so that a go-livepeer command line means the same here.

The rules, as go's flag.FlagSet.Parse applies them (src/flag/flag.go, parseOne):
- `-flag value`, `-flag=value`; two dashes are the same as one (`--flag=value`).
- A boolean flag is `-flag` (true) or `-flag=<strconv.ParseBool>`; never `-flag false`: the value
  must be attached, so `false` there is the first positional argument.
- Parsing stops at the first non-flag argument (`-` is one) or after `--`.
- A flag's value is the next argument whatever it looks like (`-maxAttempts -1`).
- `-h`/`-help` (when not defined) print the usage and exit 0; every other error exits 2 with go's
  message: `flag provided but not defined: -x`, `invalid value "v" for flag -x: parse error`,
  `invalid boolean value "v" for -x: parse error`, `flag needs an argument: -x`, `bad flag syntax: ---x`.
- Set twice, the last value wins.

Like go-livepeer (peterbourgon/ff v3 with the prefix LP and its plain config-file parser), a flag
absent from the command line takes the environment variable LP_<NAME> (upper case) when it is set
and not empty, and then a line of the -config file: `name value` (`name` alone: true; `#` starts
a comment line, ` #` a trailing comment; the name may also be the variable's LP_<NAME>).

lpnode takes no positional arguments, so where go would silently ignore the rest of the line after
a stray `false`, lpnode stops with exit 2 and says why.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn


class FlagError(Exception):
    """A command line that go's flag package would refuse; the message is go's."""


class HelpRequested(Exception):
    pass


_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def parse_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("parse error")


_GO_INT = re.compile(r"(0[xXoObB])?(_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)")
_BASES = {"x": 16, "o": 8, "b": 2}


def parse_int(text: str, bits: int | None = 64) -> int:
    """strconv.ParseInt(text, 0, bits): decimal, 0x hex, 0o or leading-0 octal, 0b binary, `_` only
    between digits (or after a base prefix). bits=None: no range (go's big.Int SetString(text, 0),
    which go-livepeer uses for wei amounts such as -ticketEV)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    m = _GO_INT.fullmatch(body)
    if not m or (m[2].startswith("_") and not m[1]):
        raise ValueError("parse error")
    digits = m[2].replace("_", "")
    base = _BASES[m[1][1].lower()] if m[1] else 8 if len(digits) > 1 and digits[0] == "0" else 10
    try:
        value = int(digits, base)
    except ValueError:
        raise ValueError("parse error") from None
    value = -value if text.startswith("-") else value
    if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError("value out of range")
    return value


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64), without hex floats."""
    if "_" in text or text.strip() != text:
        raise ValueError("parse error")
    try:
        return float(text)
    except ValueError:
        raise ValueError("parse error") from None


@dataclass
class Flag:
    name: str
    parse: Callable[[str], Any] | None  # None: a boolean flag
    default: Any
    help: str
    dest: str
    type_name: str  # shown in the usage: string, int, float, duration, value; "" for booleans
    aliases: tuple[str, ...] = ()

    @property
    def is_bool(self) -> bool:
        return self.parse is None


@dataclass
class FlagSet:
    """A go-style flag set; `parse_args` behaves as go's ExitOnError flag set (and argparse's
    parse_args: a Namespace back, SystemExit on error), `error`/`exit` as argparse's so that the
    commands' run functions report their own errors the same way."""

    prog: str
    description: str = ""
    env_prefix: str | None = "LP"
    config_flag: str | None = None  # the flag naming a config file (go-livepeer's -config)
    flags: dict[str, Flag] = field(default_factory=dict)  # every name and alias -> its flag
    defaults: dict[str, Any] = field(default_factory=dict)  # extra Namespace attributes

    # ------------------------------------------------------------------ definition

    def add(self, name: str, parse: Callable[[str], Any] | None, default: Any, help: str, *,
            aliases: tuple[str, ...] = (), dest: str | None = None, type_name: str = "value") -> Flag:
        if not help:
            raise ValueError(f"flag -{name} needs a help text")
        flag = Flag(name, parse, default, help, dest or name, "" if parse is None else type_name, aliases)
        for n in (name, *aliases):
            if n in self.flags:
                raise ValueError(f"flag redefined: {n}")
            self.flags[n] = flag
        return flag

    def bool(self, name, default, help, **kw) -> Flag:
        return self.add(name, None, default, help, **kw)

    def string(self, name, default, help, **kw) -> Flag:
        return self.add(name, str, default, help, type_name="string", **kw)

    def int(self, name, default, help, **kw) -> Flag:
        return self.add(name, parse_int, default, help, type_name="int", **kw)

    def float(self, name, default, help, **kw) -> Flag:
        return self.add(name, parse_float, default, help, type_name="float", **kw)

    def set_defaults(self, **values) -> None:
        self.defaults.update(values)

    def unique(self) -> list[Flag]:
        seen, out = set(), []
        for f in self.flags.values():
            if id(f) not in seen:
                seen.add(id(f))
                out.append(f)
        return out

    # ------------------------------------------------------------------ parsing

    def parse(self, argv: list[str], environ: Mapping[str, str] | None = None) -> tuple[dict, list[str], set[str]]:
        """(values by dest, the arguments after the flags, the dests set explicitly); FlagError or
        HelpRequested as go's parseOne."""
        values = {f.dest: f.default for f in self.unique()}
        seen: set[str] = set()
        args = list(argv)
        while args:
            s = args[0]
            if len(s) < 2 or s[0] != "-":
                break
            dashes = 1
            if s[1] == "-":
                dashes = 2
                if len(s) == 2:  # "--" ends the flags
                    args.pop(0)
                    break
            name = s[dashes:]
            if not name or name[0] in "-=":
                raise FlagError(f"bad flag syntax: {s}")
            args.pop(0)
            value, has_value = "", False
            if "=" in name[1:]:  # an `=` cannot be the name's first character
                i = name.index("=", 1)
                name, value, has_value = name[:i], name[i + 1:], True
            flag = self.flags.get(name)
            if flag is None:
                if name in ("h", "help"):
                    raise HelpRequested
                raise FlagError(f"flag provided but not defined: -{name}")
            if flag.is_bool:
                try:
                    values[flag.dest] = parse_bool(value) if has_value else True
                except ValueError as exc:
                    raise FlagError(f"invalid boolean value {_quote(value)} for -{name}: {exc}") from None
            else:
                if not has_value and args:
                    value, has_value = args.pop(0), True
                if not has_value:
                    raise FlagError(f"flag needs an argument: -{name}")
                values[flag.dest] = self._convert(flag, name, value)
            seen.add(flag.dest)
        environ = os.environ if environ is None else environ
        by_env = {self._env_key(n): f for n, f in self.flags.items()} if self.env_prefix else {}
        for key, flag in by_env.items():
            if flag.dest not in seen and environ.get(key):  # ff skips an empty variable
                values[flag.dest] = self._set(flag, environ[key], f"environment variable {key}")
                seen.add(flag.dest)
        if self.config_flag and values.get(self.config_flag):
            path = values[self.config_flag]
            try:
                lines = open(path).read().splitlines()  # noqa: SIM115 - read whole, closed at once
            except OSError as exc:
                raise FlagError(f"config file {path}: {exc.strerror}") from None
            from_file: set[str] = set()
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, _, value = line.partition(" ")
                value = value.strip() if value else "true"
                value = value.split(" #", 1)[0].strip()
                name = name.lstrip("-")
                flag = self.flags.get(name) or by_env.get(name)
                if flag is None:
                    raise FlagError(f"config file flag {_quote(name)} not defined in flag set")
                if flag.dest in seen:  # the command line and the environment come first
                    continue
                values[flag.dest] = self._set(flag, value, f"config file {path}")
                from_file.add(flag.dest)
            seen |= from_file
        return values, args, seen

    def _env_key(self, name: str) -> str:
        return f"{self.env_prefix}_" + re.sub(r"[-./]", "_", name.upper())

    @staticmethod
    def _set(flag: Flag, text: str, where: str):
        try:
            return parse_bool(text) if flag.is_bool else flag.parse(text)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise FlagError(f"invalid value {_quote(text)} for flag -{flag.name} from {where}: {exc}") from None

    @staticmethod
    def _convert(flag: Flag, name: str, value: str):
        try:
            return flag.parse(value)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise FlagError(f"invalid value {_quote(value)} for flag -{name}: {exc}") from None

    def parse_args(self, argv: list[str], environ: Mapping[str, str] | None = None) -> argparse.Namespace:
        """Parse or exit: usage on stdout and 0 for -h, go's message on stderr and 2 for an error."""
        try:
            values, rest, seen = self.parse(argv, environ)
        except HelpRequested:
            sys.stdout.write(self.usage())
            raise SystemExit(0) from None
        except FlagError as exc:
            self.error(str(exc))
        if rest:
            self.error(f"unexpected argument {_quote(rest[0])}: lpnode takes flags only (a boolean flag's "
                       f"value is attached: -flag=false, not -flag false)")
        args = argparse.Namespace(**self.defaults, **values)
        args.flags_set = seen
        return args

    # ------------------------------------------------------------------ argparse's reporting interface

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message}\nRun '{self.prog} -h' for the flags.\n")
        raise SystemExit(2)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)

    def usage(self) -> str:
        """go's PrintDefaults layout: `  -name type`, then the help indented, then (default ...)."""
        lines = [f"Usage of {self.prog}:\n"]
        if self.description:
            lines.append(f"{self.description}\n")
        for name in sorted(self.flags, key=str.lower):
            flag = self.flags[name]
            head = f"  -{name}" + (f" {flag.type_name}" if flag.type_name else "")
            text = flag.help if name == flag.name else f"alias of -{flag.name}"
            default = flag.default
            if name == flag.name and default is not None and default is not False and default != "" and default != 0:
                text += f" (default {_go_value(default, flag.type_name)})"
            sep = "\t" if len(head) <= 4 else "\n    \t"
            lines.append(head + sep + text.replace("\n", "\n    \t") + "\n")
        return "".join(lines)


def _go_value(value, type_name: str) -> str:
    """A default as go's PrintDefaults shows it: %q strings, true/false, 0.3, 5m0s."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if type_name == "duration":
        return _go_duration(float(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _go_duration(seconds: float) -> str:
    """time.Duration.String for whole seconds and up: 1h0m0s, 5m0s, 30s, 1.5s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def _quote(text) -> str:
    """Go's %q for the plain strings a command line holds."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'

"""go's `flag` package syntax (node/goflags.py), table-driven against what go's flag.FlagSet.Parse
does (src/flag/flag.go parseOne; the package doc's "Command line flag syntax"; strconv.ParseBool
and ParseInt with base 0)."""
from __future__ import annotations

import pytest

from node.goflags import FlagError, FlagSet, HelpRequested


def flagset() -> FlagSet:
    fs = FlagSet("prog", env_prefix="LP")
    fs.bool("b", False, "a bool")
    fs.bool("u", None, "a bool that may stay unset")
    fs.string("s", "", "a string")
    fs.string("dataDir", "", "a string with an alias", aliases=("datadir",))
    fs.int("n", 7, "an int")
    fs.float("f", 0.5, "a float")
    return fs


def parse(*argv, environ=None):
    values, rest, _ = flagset().parse(list(argv), environ or {})
    return values, rest


ACCEPTED = [  # argv, expected values (a subset), the arguments left after the flags
    (["-s", "x"], {"s": "x"}, []),
    (["-s=x"], {"s": "x"}, []),
    (["--s", "x"], {"s": "x"}, []),
    (["--s=x"], {"s": "x"}, []),
    (["-s="], {"s": ""}, []),
    (["-s=a=b"], {"s": "a=b"}, []),
    (["-s", "-b"], {"s": "-b", "b": False}, []),  # a value is the next argument, whatever it looks like
    (["-s", "a", "-s", "b"], {"s": "b"}, []),  # the last wins
    (["-b"], {"b": True}, []),
    (["--b"], {"b": True}, []),
    *[(["-b=" + v], {"b": True}, []) for v in ("1", "t", "T", "true", "TRUE", "True")],
    *[(["--b=" + v], {"b": False}, []) for v in ("0", "f", "F", "false", "FALSE", "False")],
    (["-b", "false"], {"b": True}, ["false"]),  # never `-flag false`: false is a positional argument
    (["-b", "false", "-s", "x"], {"b": True, "s": ""}, ["false", "-s", "x"]),  # and parsing stops there
    ([], {"u": None, "n": 7, "f": 0.5}, []),
    (["-u=false"], {"u": False}, []),
    (["-n", "-1"], {"n": -1}, []),
    (["-n=0x10"], {"n": 16}, []),
    (["-n=010"], {"n": 8}, []),  # a leading 0 is octal
    (["-n=0o10"], {"n": 8}, []),
    (["-n=0b101"], {"n": 5}, []),
    (["-n=1_000"], {"n": 1000}, []),
    (["-n=+5"], {"n": 5}, []),
    (["-f", "1e3"], {"f": 1000.0}, []),
    (["-f=-2.5"], {"f": -2.5}, []),
    (["--", "-b"], {"b": False}, ["-b"]),  # "--" ends the flags
    (["-b", "--", "x"], {"b": True}, ["x"]),
    (["-", "-b"], {"b": False}, ["-", "-b"]),  # "-" is a non-flag argument
    (["x", "-b"], {"b": False}, ["x", "-b"]),
    (["-datadir", "d"], {"dataDir": "d"}, []),
    (["--dataDir=e"], {"dataDir": "e"}, []),
]


@pytest.mark.parametrize("argv,expected,rest", ACCEPTED, ids=[" ".join(a) or "(none)" for a, _, _ in ACCEPTED])
def test_accepted(argv, expected, rest):
    values, left = parse(*argv)
    assert {k: values[k] for k in expected} == expected
    assert left == rest


REFUSED = [  # argv, go's message
    (["-x"], "flag provided but not defined: -x"),
    (["--x=1"], "flag provided but not defined: -x"),
    (["-b=maybe"], 'invalid boolean value "maybe" for -b: parse error'),
    (["-b="], 'invalid boolean value "" for -b: parse error'),
    (["-n", "abc"], 'invalid value "abc" for flag -n: parse error'),
    (["-n=1.5"], 'invalid value "1.5" for flag -n: parse error'),
    (["-n=09"], 'invalid value "09" for flag -n: parse error'),
    (["-n=1__0"], 'invalid value "1__0" for flag -n: parse error'),
    (["-n=9223372036854775808"], 'invalid value "9223372036854775808" for flag -n: value out of range'),
    (["-f", "x"], 'invalid value "x" for flag -f: parse error'),
    (["-s"], "flag needs an argument: -s"),
    (["-b", "-n"], "flag needs an argument: -n"),
    (["---s"], "bad flag syntax: ---s"),
    (["-=x"], "bad flag syntax: -=x"),
]


@pytest.mark.parametrize("argv,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_refused(argv, message):
    with pytest.raises(FlagError) as exc:
        parse(*argv)
    assert str(exc.value) == message


@pytest.mark.parametrize("argv", [["-h"], ["-help"], ["--help"], ["-b", "-h"]])
def test_help(argv):
    with pytest.raises(HelpRequested):
        parse(*argv)


def test_environment_variables_as_go_livepeer_reads_them():
    """go-livepeer parses with ff and the prefix LP: LP_<NAME> for a flag absent from the line."""
    values, _ = parse(environ={"LP_S": "env", "LP_B": "true", "LP_DATADIR": "/d", "LP_N": ""})  # empty: unset
    assert values["s"] == "env" and values["b"] is True and values["dataDir"] == "/d"
    values, _ = parse("-s", "line", environ={"LP_S": "env"})
    assert values["s"] == "line"
    with pytest.raises(FlagError, match="LP_N"):
        parse(environ={"LP_N": "many"})


def test_config_file_as_go_livepeer_reads_it(tmp_path):
    """ff's PlainParser: `name value`, a name alone is true, comments; the command line and the
    environment come first; an unknown name is an error."""
    fs = flagset()
    fs.string("config", "", "the config file")
    fs.config_flag = "config"
    conf = tmp_path / "livepeer.conf"
    conf.write_text("# a comment\n\ns hello world  # trailing\nb\n-n 0x20\nLP_DATADIR /data\nf 1.5\n")
    values, _, seen = fs.parse(["-config", str(conf), "-f", "2"], {"LP_U": "true"})
    assert (values["s"], values["b"], values["n"], values["dataDir"], values["f"], values["u"]) == \
        ("hello world", True, 32, "/data", 2.0, True)
    assert {"s", "b", "n", "dataDir"} <= seen
    conf.write_text("bogus 1\n")
    with pytest.raises(FlagError, match='config file flag "bogus" not defined'):
        fs.parse(["-config", str(conf)], {})
    conf.write_text("n many\n")
    with pytest.raises(FlagError, match='invalid value "many" for flag -n from config file'):
        fs.parse(["-config", str(conf)], {})
    with pytest.raises(FlagError, match="config file"):
        fs.parse(["-config", str(tmp_path / "missing")], {})


def test_parse_args_exits_as_go_does(capsys):
    fs = flagset()
    assert fs.parse_args(["-s", "x"], {}).s == "x"
    with pytest.raises(SystemExit) as exc:
        fs.parse_args(["-x"], {})
    assert exc.value.code == 2 and "flag provided but not defined: -x" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        fs.parse_args(["-b", "false"], {})  # go would ignore the rest; lpnode takes no positional argument
    assert exc.value.code == 2 and 'unexpected argument "false"' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        fs.parse_args(["-h"], {})
    out = capsys.readouterr().out
    assert exc.value.code == 0 and out.startswith("Usage of prog:")
    assert "  -n int\n    \tan int (default 7)\n" in out and "  -b\ta bool\n" in out  # a one-letter bool: same line, as go
    assert "  -datadir string\n    \talias of -dataDir\n" in out


def test_every_flag_needs_help():
    with pytest.raises(ValueError):
        FlagSet("prog").string("x", "", "")

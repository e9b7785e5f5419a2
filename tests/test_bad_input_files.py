"""Bad study files and search spaces: each one gives one line naming the file or parameter and the rule,
exits 2 from `zoomtune run` / `zoomtune plan`, and leaves nothing behind (no database, no study, no trial).

The table `BAD_FILES` is the count of bad study files tried; `BAD_NAMES` and `BAD_SPACES` add the
Python API's share."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

import zoomtune as zt
from zoomtune.cli import cli
from zoomtune.errors import ConfigError, SearchSpaceError, shown
from zoomtune.space import INT_LIMIT, MAX_ALIAS_NODES, Float, Int, Space, check_param_name, read_yaml
from zoomtune.studyfile import MAX_JOBS, MAX_TRIALS, load_study_file

BARE = "study: s\nobjective: obj:f\n"
HEAD = BARE + "n_trials: 2\n"
OBJECTIVE = "def f(trial):\n    return trial.suggest_float('x', -1, 1) ** 2\n"


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each level an anchored list of nine aliases of the level below."""
    names = "abcdefghij"[:levels]
    lines = [BARE + "seed:", " - &a [x,x,x,x,x,x,x,x,x]"]
    lines += [f" - &{name} [{','.join([f'*{below}'] * 9)}]" for below, name in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


# (file text or bytes, fragments the one-line error must hold)
BAD_FILES = [
    # encoding and YAML itself
    (b"study: s\nobjective: obj:f\n# caf\xe9\n", ["is not UTF-8 text (line 3: byte 31 is 0xe9)"]),
    ("study: s\nobjective: obj:f\n".encode("utf-16"), ["is not UTF-8 text (line 1: byte 0 is 0xff)"]),
    (HEAD + "note: a\x00b\n", ["not valid YAML", "#x0000"]),
    (HEAD + "timeout: 10\nn_trials: 3\n", ["line 5", "key 'n_trials' appears twice, at lines 3 and 5"]),
    (HEAD + "space: {lr: [1, 2], lr: [3]}\n", ["line 4", "key 'lr' appears twice, at lines 4 and 4"]),
    (HEAD + "space:\n  lr: {type: float, low: 0, high: 1, low: 0.5}\n", ["key 'low' appears twice"]),
    (alias_bomb(), [f"aliases repeat more than {MAX_ALIAS_NODES} nodes"]),
    (HEAD + "seed: &a [1, *a]\n", ["alias *a lies inside its own anchor"]),
    (HEAD + "seed: " + "[" * 600 + "]" * 600 + "\n", ["nested too deeply"]),
    (HEAD + "seed: " + "7" * 5000 + "\n", ["an integer of 5000 characters is too long"]),
    ("", ["must be a YAML mapping"]),
    # seconds must be finite and positive
    (HEAD + "timeout: .inf\n", ["timeout: must be a finite number > 0", "got inf"]),
    (HEAD + "timeout: .nan\n", ["timeout: must be a finite number > 0", "got nan"]),
    (HEAD + "timeout: -.inf\n", ["timeout: must be a finite number > 0"]),
    (HEAD + "timeout: 0\n", ["timeout: must be a finite number > 0", "got 0"]),
    (HEAD + f"timeout: {10**400}\n", ["timeout: must be a finite number > 0", "an integer of 401 digits"]),
    (HEAD + "timeout: ten\n", ["timeout: must be a finite number > 0", "got 'ten'"]),
    (HEAD + "heartbeat_interval: .inf\n", ["heartbeat_interval: must be a finite number > 0"]),
    (HEAD + "heartbeat_interval: .nan\n", ["heartbeat_interval: must be a finite number > 0"]),
    (HEAD + "heartbeat_interval: true\n", ["heartbeat_interval: must be a finite number > 0", "got True"]),
    # counts must be whole, positive and fit 64 bits
    (BARE + f"n_trials: {10**400}\n", [f"n_trials: must be an integer >= 1 and <= {MAX_TRIALS}"]),
    (BARE + f"n_trials: {MAX_TRIALS + 1}\n", ["n_trials: must be an integer >= 1"]),
    (BARE + "n_trials: .inf\n", ["n_trials: must be an integer", "got inf"]),
    (BARE + "n_trials: 0\n", ["n_trials: must be an integer >= 1"]),
    (BARE + "n_trials: 2.5\n", ["n_trials: must be an integer", "got 2.5"]),
    (HEAD + f"jobs: {10**400}\n", [f"jobs: must be -1 (all cores) or an integer in [1, {MAX_JOBS}]"]),
    (HEAD + f"jobs: {MAX_JOBS + 1}\n", ["jobs: must be -1 (all cores)"]),
    (HEAD + "jobs: .nan\n", ["jobs: must be -1 (all cores)"]),
    (HEAD + "jobs: 0\n", ["jobs: must be -1 (all cores)"]),
    (HEAD + "jobs: -2\n", ["jobs: must be -1 (all cores)"]),
    (HEAD + "seed: -1\n", ["seed: must be an integer >= 0"]),
    (HEAD + "seed: .inf\n", ["seed: must be an integer >= 0", "got inf"]),
    (HEAD + "seed: 1.5\n", ["seed: must be an integer >= 0"]),
    ("study: " + "s" * 513 + "\nobjective: obj:f\nn_trials: 2\n", ["study: must have at most 512 characters",
                                                                      "(513 characters)"]),
    # the space
    (HEAD + f"space:\n  n: {{type: int, low: 0, high: {10**400}}}\n",
     ["parameter 'n'", "Int bounds must lie in [-2**53, 2**53]", "an integer of 401 digits"]),
    (HEAD + f"space:\n  n: {{type: int, low: {-INT_LIMIT - 1}, high: 0}}\n", ["Int bounds must lie in"]),
    (HEAD + "space:\n  n: {type: int, low: 0, high: 1.0e300}\n", ["Int bounds must lie in"]),
    (HEAD + f"space:\n  x: {{type: float, low: 0, high: {10**400}}}\n", ["parameter 'x'", "high must be finite"]),
    (HEAD + "space:\n  x: {type: float, low: -.inf, high: 0}\n", ["parameter 'x'", "low must be finite"]),
    (HEAD + "space:\n  x: {type: float, low: 0, high: .nan}\n", ["parameter 'x'", "high must be finite"]),
    (HEAD + "space:\n  x: {type: float, low: 1.0e309, high: 2}\n", ["parameter 'x'", "low must be finite"]),
    (HEAD + "space:\n  x: [.nan, 1]\n", ["parameter 'x'", "choices must be finite numbers"]),
    (HEAD + "space:\n  x: [.inf, 1]\n", ["parameter 'x'", "choices must be finite numbers"]),
    (HEAD + "space:\n  x: [" + ", ".join(["[1]"] * 200) + "]\n", ["choices must be None, bool", "list [1]"]),
    (HEAD + "space:\n  x: {type: float, low: " + "a" * 10_000 + ", high: 1}\n",
     ["parameter 'x'", "low must be a number", "(10000 characters)"]),
    (HEAD + "space:\n  '': [1, 2]\n", ["parameter names must not be empty or blank", "got ''"]),
    (HEAD + "space:\n  '   ': [1, 2]\n", ["parameter names must not be empty or blank"]),
    (HEAD + "space:\n  ' lr': [1, 2]\n", ["must not start or end with whitespace", "' lr'"]),
    (HEAD + 'space:\n  "l\\tr": [1, 2]\n', ["must not contain control or invisible characters", "'l\\tr'"]),
    (HEAD + 'space:\n  "l\\u200br": [1, 2]\n', ["must not contain control or invisible characters"]),
    (HEAD + "space:\n  null: [1, 2]\n", ["parameter names must be strings", "NoneType None"]),
    (HEAD + "space:\n  " + "p" * 513 + ": [1, 2]\n", ["at most 512 characters", "(513 characters)"]),
]


def _ids() -> list[str]:
    return [f"{i}-{str(fragments[0])[:30]}" for i, (_text, fragments) in enumerate(BAD_FILES)]


def _write(folder: Path, text: str | bytes) -> Path:
    (folder / "obj.py").write_text(OBJECTIVE)
    path = folder / "study.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert len(message) < 400, message  # long values are cut
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("text, fragments", BAD_FILES, ids=_ids())
def test_a_bad_study_file_is_one_line_naming_the_file_and_the_rule(tmp_path, text, fragments):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_study_file(path)
    _one_line(str(info.value), str(path), *fragments)


@pytest.mark.parametrize("text, fragments", BAD_FILES, ids=_ids())
def test_run_refuses_a_bad_study_file_with_status_2_and_creates_nothing(tmp_path, text, fragments):
    path, database = _write(tmp_path, text), tmp_path / "zoomtune.db"
    result = CliRunner().invoke(cli, ["run", str(path), "--storage", f"sqlite:///{database}", "-q"])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.startswith("error: "), result.output
    _one_line(result.stderr, *fragments)
    assert not database.exists()  # no study, no trial: the file was refused before the storage was opened


def test_plan_refuses_a_bad_study_file_with_status_2(tmp_path):
    path = _write(tmp_path, HEAD + "timeout: .inf\n")
    result = CliRunner().invoke(cli, ["plan", str(path), "--storage", f"sqlite:///{tmp_path / 'zoomtune.db'}"])
    assert result.exit_code == 2 and result.stdout == "", result.output
    _one_line(result.stderr, "timeout: must be a finite number > 0")
    assert not (tmp_path / "zoomtune.db").exists()


def test_an_alias_bomb_is_refused_at_once_by_a_real_run(tmp_path):
    path = _write(tmp_path, alias_bomb())
    assert len(path.read_bytes()) < 500
    # the timeout is a safety net: the test waits for the process to end and asserts what it printed
    result = subprocess.run([sys.executable, "-m", "zoomtune", "run", str(path), "-q"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "aliases repeat more than" in lines[0] and "line 8" in lines[0], result.stderr
    assert not (tmp_path / "zoomtune.db").exists()


@pytest.mark.parametrize("text", [
    "study: s\nobjective: obj:f\nn_trials: 2\n".encode("utf-8-sig"),  # a byte-order mark is UTF-8 too
    HEAD + "space:\n  a: &d {type: float, low: 0, high: 1}\n  b: *d\n",  # an alias that shares a distribution
    HEAD + "sampler: {<<: {name: random, seed: 1}, seed: 2}\n",  # a merge key's value may be overridden
    HEAD + f"timeout: 1.5\nheartbeat_interval: 0.25\njobs: -1\nseed: {2**70}\n",
    "study: s\nobjective: obj:f\n" + f"n_trials: {MAX_TRIALS}\njobs: {MAX_JOBS}\n",
    HEAD + f"space:\n  n: {{type: int, low: {-INT_LIMIT}, high: {INT_LIMIT}}}\n"
           "  x: {type: float, low: -1.0e308, high: 1.0e308}\n  'layer.0/units': [1, 2]\n  学习率: [a, b]\n",
], ids=["bom", "alias", "merge", "seconds", "limits", "extremes"])
def test_good_files_near_the_rules_still_load(tmp_path, text):
    spec = load_study_file(_write(tmp_path, text))
    assert spec.name == "s" and spec.objective == "obj:f"


def test_a_shared_distribution_and_a_merge_read_as_written():
    data = read_yaml("a: &d {type: int, low: 1, high: 9}\nb: *d\nc: {<<: *d, high: 5}\n", "f.yaml")
    assert data == {"a": {"type": "int", "low": 1, "high": 9}, "b": {"type": "int", "low": 1, "high": 9},
                    "c": {"type": "int", "low": 1, "high": 5}}
    space = Space.from_yaml("a: &d [x, y]\nb: *d\n")
    assert space["a"] == space["b"] and space.names == ("a", "b")


def test_a_duplicated_key_in_a_space_yaml_names_the_key_and_both_lines():
    with pytest.raises(ConfigError, match=r"^space: YAML: .*key 'lr' appears twice, at lines 1 and 3$"):
        Space.from_yaml("lr: [1, 2]\nbeta: [3]\nlr: [4]\n")


# -- messages cut long values, in bounded time --------------------------------------------------------

def test_messages_show_a_self_sharing_value_briefly():
    bomb: list = ["lol"] * 9
    for _ in range(9):
        bomb = [bomb] * 9  # 9**10 strings if written out: only a bounded repr can finish
    message = str(ConfigError("seed", "must be an integer", bomb, "f.yaml"))
    assert message.startswith("f.yaml: seed: must be an integer; got [[[") and message.endswith("(9 items)")
    assert len(message) < 200


@pytest.mark.parametrize("value, shown_as", [
    ("x" * 1000, "'" + "x" * 80 + "'... (1000 characters)"),
    (b"ab" * 100, "b'" + "ab" * 40 + "'... (200 characters)"),
    (list(range(100)), "[0, 1, 2, 3, 4, 5, 6, 7, ...] (100 items)"),
    (10**5000, "<an integer of 5001 digits>"),  # Python refuses to write it out at all
    (0.1, "0.1"),
    ("lr", "'lr'"),
    ([1, 2], "[1, 2]"),
], ids=["str", "bytes", "list", "int", "float", "short str", "short list"])
def test_shown_values(value, shown_as):
    assert shown(value) == shown_as


def test_search_space_errors_cut_what_their_callers_wrote():
    error = SearchSpaceError("must lie in [0, 1]", repr("y" * 10_000), param="x")
    assert len(str(error)) < 400 and str(error).endswith("(10002 characters)")
    with pytest.raises(SearchSpaceError, match=r"low must be a number; got low='z+'\.\.\. \(5000 characters\)$"):
        Float("z" * 5000, 1.0)


# -- the Python API: huge ints, extreme floats, parameter names ----------------------------------------

BAD_SPACES = [
    (lambda: Int(0, 10**400), "Int bounds must lie in [-2**53, 2**53]"),
    (lambda: Int(-(2**53) - 1, 0), "Int bounds must lie in [-2**53, 2**53]"),
    (lambda: Int(0, 1e300), "Int bounds must lie in [-2**53, 2**53]"),
    (lambda: Float(0, 10**400), "high must be finite"),
    (lambda: Float(-math.inf, 0), "low must be finite"),
    (lambda: Float(0, math.nan), "high must be finite"),
    (lambda: zt.Categorical((math.nan, 1.0)), "choices must be finite numbers"),
]


@pytest.mark.parametrize("make, rule", BAD_SPACES)
def test_the_python_api_refuses_huge_and_infinite_bounds(make, rule):
    with pytest.raises(SearchSpaceError) as info:
        make()
    _one_line(str(info.value), rule)


def test_suggest_int_beyond_the_int_limit_names_the_parameter():
    trial = zt.create_study().ask()
    with pytest.raises(SearchSpaceError, match=r"^parameter 'n': Int bounds must lie in \[-2\*\*53, 2\*\*53\]"):
        trial.suggest_int("n", 0, 10**400)
    assert trial.suggest_int("m", -(2**53), 2**53) in range(-(2**53), 2**53 + 1)


BAD_NAMES = ["", "   ", "\t", " lr", "lr ", "l\nr", "l\x00r", "l\u200br", "p" * 513, None, 3, ("a",)]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_parameter_names_are_refused_in_every_way_a_space_is_given(name):
    for make in (lambda: check_param_name(name), lambda: Space({name: Float(0, 1)}),
                 lambda: Space.from_dict({name: [1, 2]})):
        with pytest.raises(SearchSpaceError, match=r"^search space: parameter names must"):
            make()


@pytest.mark.parametrize("name", ["lr", "layer.0/units", "学习率", "a b", "x" * 512])
def test_good_parameter_names_pass_unchanged(name):
    assert check_param_name(name) == name and Space({name: Float(0, 1)}).names == (name,)

@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_define_by_run_refuses_bad_parameter_names_and_stores_nothing(name):
    trial = zt.create_study().ask()
    with pytest.raises(SearchSpaceError, match=r"^search space: parameter names must"):
        trial.suggest_float(name, 0, 1)
    assert trial.params == {}


# -- sampling over the full range of floats -----------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(finite, finite, st.floats(0, 1))
def test_linear_floats_over_any_finite_range_stay_inside_and_are_not_stuck_at_a_bound(a, b, u):
    low, high = sorted((a, b))
    assume(low < high)
    dist = Float(low, high)
    value = dist.from_unit(u)
    assert low <= value <= high and 0.0 <= dist.to_unit(value) <= 1.0
    if math.nextafter(low, math.inf) < high:  # some float lies strictly between the bounds
        assert low < dist.from_unit(0.5) < high


@given(st.floats(min_value=0, max_value=1e308, exclude_min=True), st.floats(min_value=0, max_value=1e308,
                                                                             exclude_min=True), st.floats(0, 1))
def test_log_floats_over_extreme_ranges_stay_inside(a, b, u):
    low, high = sorted((a, b))
    assume(low < high)
    dist = Float(low, high, scale="log")
    assert low <= dist.from_unit(u) <= high
    if high > 4 * low:
        assert low < dist.from_unit(0.5) < high


@given(st.floats(min_value=-1e308, max_value=1, exclude_max=True),
       st.floats(min_value=-1e308, max_value=1, exclude_max=True), st.floats(0, 1))
def test_log1m_floats_over_extreme_ranges_stay_inside(a, b, u):
    low, high = sorted((a, b))
    assume(low < high)
    assert low <= Float(low, high, scale="log1m").from_unit(u) <= high


def test_a_study_samples_the_whole_range_from_minus_to_plus_1e308():
    study = zt.create_study(sampler=zt.samplers.RandomSampler(seed=3))
    values = []
    for _ in range(20):
        trial = study.ask()
        values.append(trial.suggest_float("x", -1e308, 1e308))
        study.tell(trial, 0.0)
    assert all(-1e308 <= v <= 1e308 for v in values)
    assert min(values) < -1e306 and max(values) > 1e306 and len(set(values)) == 20


# -- needs B-cli-timeout-jobs.diff (run.py, worker.py, panda.py) ----------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--timeout", "inf"], "zoomtune run: --timeout: must be a finite number > 0; got inf"),
    (["--timeout", "nan"], "zoomtune run: --timeout: must be a finite number > 0; got nan"),
    (["--jobs", str(10**23)], f"zoomtune run: --jobs: must be -1 (all cores) or an integer in [1, {MAX_JOBS}]"),
    (["--jobs", "0"], "zoomtune run: --jobs: must be -1 (all cores)"),
], ids=["inf", "nan", "huge jobs", "no jobs"])
def test_run_refuses_bad_timeout_and_jobs_options_before_creating_the_study(tmp_path, args, fragment):
    path, database = _write(tmp_path, HEAD), tmp_path / "zoomtune.db"
    result = CliRunner().invoke(cli, ["run", str(path), "--storage", f"sqlite:///{database}", "-q", *args])
    assert result.exit_code == 2 and result.stdout == "", result.output
    _one_line(result.stderr, fragment)
    assert not database.exists()

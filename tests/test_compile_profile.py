"""tests/compile_profile.py: a notebook run as CI runs it, with its kernel's compilations counted."""
import json
import time

import compile_profile


def assert_compiled(result, name, times):
    """The notebook compiled ``name`` ``times`` times, checked by name where this jax gives names; jax 0.4.30
    (CI's notebook environment) names none, so there only the total of programs compiled can be checked."""
    if result["functions"]:
        assert result["functions"][name][0] == times
    else:
        assert result["programs_compiled"] >= times and "does not name" in compile_profile.line(result)


def write_notebook(path, *cells):
    """A notebook of code cells, in nbformat 4."""
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
                  for source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_counts_the_programs_the_kernel_compiles_and_reports_a_failing_cell(tmp_path):
    passing = write_notebook(tmp_path / "passing.ipynb", "import jax\ndouble = jax.jit(lambda x: 2 * x)",
                             "print(double(1.0), double(2.0), double(jax.numpy.ones(3)))")
    failing = write_notebook(tmp_path / "failing.ipynb", "import jax\nprint(jax.jit(lambda x: x + 1)(1.0))",
                             "raise ValueError('this cell fails')")
    work = tmp_path / "work"
    work.mkdir()
    result = compile_profile.profile(passing, work)
    assert result["passed"] and result["log_tail"] == ""
    # one program for a scalar, one for shape (3,): same shape and dtype again is not compiled again
    assert_compiled(result, "jit(<lambda>)", 2)
    assert result["programs_compiled"] >= 2 and result["compile_s"] > 0
    assert "passed" in compile_profile.line(result)
    assert "jit(<lambda>) x2" in compile_profile.line(result) or not result["functions"]

    result = compile_profile.profile(failing, work)
    assert not result["passed"] and "this cell fails" in result["log_tail"]
    assert_compiled(result, "jit(<lambda>)", 1)
    assert "FAILED" in compile_profile.line(result)



def test_a_notebook_past_its_time_limit_is_stopped_and_says_what_it_had_compiled(tmp_path):
    sleeping = write_notebook(tmp_path / "sleeping.ipynb", "import jax\nprint(jax.jit(lambda x: x - 1)(1.0))",
                              "import time\ntime.sleep(300)")
    started = time.monotonic()
    result = compile_profile.profile(sleeping, tmp_path, timeout=15)
    assert time.monotonic() - started < 60
    assert result["timed_out"] and not result["passed"] and "stopped after 15" in result["log_tail"]
    assert_compiled(result, "jit(<lambda>)", 1)
    assert "STOPPED" in compile_profile.line(result)


def test_bad_arguments_get_one_line_and_exit_status_2(capsys):
    readme, notebook = str(compile_profile.ROOT / "README.md"), str(compile_profile.ROOT / "notebooks" / "01_data.ipynb")
    for arguments, message in [(["no_such.ipynb"], "no such notebook (an .ipynb file): no_such.ipynb"),
                               ([readme], f"no such notebook (an .ipynb file): {readme}"),
                               (["--timeout", "0", notebook], "--timeout must be a positive number of seconds, not 0"),
                               (["--out", f"{readme}/profile.json", notebook], "README.md is a file, not a folder")]:
        try:
            compile_profile.main(arguments)
        except SystemExit as stop:
            assert stop.code == 2
        else:
            raise AssertionError(f"{arguments} was accepted")
        assert message in capsys.readouterr().err

"""The long-running scripts check their arguments before they start work: a bad ``--out`` or ``--batch``
is one line and exit status 2 at once, not a traceback when the first result is saved minutes or hours
later (``shared.arithmetic`` made its folder only after training)."""
import pytest

from shared import arithmetic, bench, runtime, trace_study


@pytest.fixture
def a_file(tmp_path):
    """A plain file, where a script's output folder should be."""
    path = tmp_path / "a_file"
    path.write_text("")
    return path


def refuse_to_run(monkeypatch, module, *names):
    """Replace the functions that do a script's work with one that fails the test if it is called."""
    def must_not_run(*args, **kwargs):
        raise AssertionError(f"{module.__name__} started work before checking its arguments")
    for name in names:
        monkeypatch.setattr(module, name, must_not_run)


def refused(main, arguments, capsys) -> str:
    """Run ``main(arguments)``, which must stop with exit status 2; return what it wrote on stderr."""
    with pytest.raises(SystemExit) as stop:
        main(arguments)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_bench_refuses_an_out_it_cannot_write_and_add_with_sweep(tmp_path, a_file, monkeypatch, capsys):
    refuse_to_run(monkeypatch, bench, "run", "sweep")
    for arguments, message in ((["--out", str(a_file / "bench.json")], "a_file is a file, not a folder"),
                               (["--sweep", "--out", str(a_file / "sub" / "sweep.json")], "cannot make the folder"),
                               (["--out", str(tmp_path)], "is a folder: name the JSON file"),
                               (["--sweep", "--add", "--out", str(tmp_path / "sweep.json")], "--sweep writes a file")):
        assert message in refused(bench.main, ["--quick", *arguments], capsys)


@pytest.mark.parametrize("script, arguments, work", [(arithmetic, ["t4"], "train_recipe"),
                                                     (trace_study, ["compare"], "compare")],
                         ids=["arithmetic", "trace_study"])
def test_training_scripts_refuse_an_out_folder_they_cannot_write(script, arguments, work, a_file, monkeypatch, capsys):
    refuse_to_run(monkeypatch, script, work)
    for out, message in ((a_file, "is a file, not a folder"), (a_file / "under", "cannot make the folder")):
        assert message in refused(script.main, [*arguments, "--out", str(out)], capsys)


def test_exhaustive_check_refuses_a_batch_below_one(tmp_path, capsys):
    # it ran as a batch of 1: about 14 minutes per million problems
    assert "--batch must be positive" in refused(trace_study.main, ["exhaustive", "--batch", "0", "--out", str(tmp_path)], capsys)


def test_writable_dir_makes_the_folders_it_needs(tmp_path):
    assert runtime.writable_dir(tmp_path / "new" / "folder").is_dir()

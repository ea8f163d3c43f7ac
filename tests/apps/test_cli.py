"""The CLI as a user meets it: help everywhere, one-line errors with exit code 2."""

import numpy as np
import pytest
from PIL import Image

from apps import cli


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [[], ["classification"], ["classification", "train"],
                                  ["classification", "predict"], ["tour"]])
def test_help_at_every_level(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: classics" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["nosuchapp"])
    assert exit_info.value.code == 2


def _one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_unknown_config_key(capsys, tmp_path):
    code, _, err = run_cli(capsys, "classification", "train", "--set", "bogus_key=1",
                           "--set", f"runs_dir={tmp_path}")
    _one_line_error(code, err, "bogus_key")


def test_unknown_dataset(capsys, tmp_path):
    code, _, err = run_cli(capsys, "classification", "train", "--data", "nosuch:thing",
                           "--set", f"runs_dir={tmp_path}")
    _one_line_error(code, err, "nosuch:thing")


def test_folder_without_images(capsys, tmp_path):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    code, _, err = run_cli(capsys, "classification", "train", "--data", f"folder:{tmp_path / 'empty'}",
                           "--set", f"runs_dir={tmp_path / 'runs'}")
    _one_line_error(code, err, str(tmp_path / "empty"))


def test_truncated_image_for_predict(capsys, tiny_run, tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:40])
    code, _, err = run_cli(capsys, "classification", "predict", str(path), "--run", str(tiny_run.path))
    _one_line_error(code, err, str(path))


def test_not_an_image_for_predict(capsys, tiny_run, tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    code, _, err = run_cli(capsys, "classification", "predict", str(path), "--run", str(tiny_run.path))
    _one_line_error(code, err, str(path))


def test_missing_run_directory(capsys, tmp_path):
    code, _, err = run_cli(capsys, "classification", "evaluate", "--run", str(tmp_path / "nope"))
    _one_line_error(code, err, str(tmp_path / "nope"))


def test_rgb_folder_end_to_end_and_grayscale_refused(capsys, rgb_folder, tmp_path):
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "classification", "train", "--data", f"folder:{rgb_folder}", "--preset", "tiny",
        "--set", f"runs_dir={runs}", "--set", "test_holdout=6", "--set", "epochs=1",
        "--set", "batch_size=8", "--set", "val_fraction=0.2")
    assert code == 0, err
    assert "accuracy" in out
    run_dir = next((runs / "classification").iterdir())
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((16, 16), 90, np.uint8)).save(gray)
    code, _, err = run_cli(capsys, "classification", "predict", str(gray), "--run", str(run_dir))
    _one_line_error(code, err, str(gray), "grayscale")
    # An RGB image is answered with a label from the folder's classes.
    red = rgb_folder / "red" / "0.png"
    code, out, err = run_cli(capsys, "classification", "predict", str(red), "--run", str(run_dir),
                             "--json")
    assert code == 0, err
    assert '"label": ' in out and any(c in out for c in ("red", "green", "blue"))

"""A real search in child processes: SIGKILL mid-trial, rerun, exact trial count, results."""

import functools
import json

import pytest
from processes import classics, kill_group, wait_for
from tuning_helpers import launches, load_json, read_trials, tiny_args

TRIALS = 2


def _resumed_search(colour_folder, directory):
    """`classics tune` killed with SIGKILL during trial 2, then rerun to the end."""
    args = ["tune", "classification", *tiny_args(colour_folder), "--trials", TRIALS,
            "--max-epochs", 2, "--directory", directory]
    first = classics(*args, stdout=open(directory / "first.log", "w"), stderr=-2)
    trial_1 = directory / "round1" / "trial_1"
    try:
        # Kill once trial 2 trains: its process started and wrote its run directory.
        wait_for(lambda: (trial_1 / "execution_0" / "config.json").exists() or first.poll() is not None,
                 600, "trial 2 to start")
        assert first.poll() is None, (directory / "first.log").read_text()[-2000:]
    finally:
        kill_group(first)
    launched = len(launches(directory / "round1" / "trial_0"))
    results_before_rerun = (directory / "trials.csv").exists()
    second = classics(*args, stdout=open(directory / "second.log", "w"), stderr=-2)
    assert second.wait(timeout=600) == 0, (directory / "second.log").read_text()[-3000:]
    return directory, launched, results_before_rerun


def background_jobs(request, root):
    """The search runs in child processes from the session's start (tests/conftest.py)."""
    return {"resumed search": functools.partial(_resumed_search, request.getfixturevalue("colour_folder"), root)}


@pytest.fixture(scope="session")
def resumed_search(jobs):
    """The search directory, once the killed search was rerun to its end."""
    directory, launched, results_before_rerun = jobs.result("resumed search")
    assert launched == 1 and not results_before_rerun  # the kill came during trial 2, before any result
    return directory


@pytest.mark.slow
@pytest.mark.background
def test_rerun_after_sigkill_finishes_the_remaining_trials_only(resumed_search):
    rows = read_trials(resumed_search)
    assert [r["trial_id"] for r in rows] == ["0", "1"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    # Trial 1 finished before the kill and was not redone; trial 2 ran again after it.
    assert len(launches(resumed_search / "round1" / "trial_0")) == 1
    assert len(launches(resumed_search / "round1" / "trial_1")) == 2
    assert sorted(p.name for p in (resumed_search / "round1").glob("trial_*")) == ["trial_0", "trial_1"]


@pytest.mark.slow
@pytest.mark.background
def test_results_files(resumed_search):
    rows = read_trials(resumed_search)
    best = load_json(resumed_search / "best_config.json")
    scores = {r["trial_id"]: float(r["val_accuracy"]) for r in rows}
    assert best["score"] == pytest.approx(max(scores.values()))
    assert best["objective"] == "val_accuracy" and best["direction"] == "max"
    trial_id = best["trial"].rsplit("_", 1)[1]
    assert scores[trial_id] == pytest.approx(best["score"])
    assert best["config"]["learning_rate"] == pytest.approx(best["hyperparameters"]["learning_rate"])
    assert best["config"]["beta_1"] == pytest.approx(1 - best["hyperparameters"]["one_minus_beta_1"])
    assert best["config"]["epochs"] == 2
    png = resumed_search / "objective_vs_learning_rate.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    # The score is the best epoch in the trial's own run log.
    from tuning.search import best_logged

    log = resumed_search / "round1" / f"trial_{trial_id}" / "execution_0" / "log.csv"
    assert best_logged(log, "val_accuracy", "max") == pytest.approx(best["score"])


@pytest.mark.slow
@pytest.mark.background
def test_best_config_retrains_to_the_best_score(resumed_search, tmp_path):
    """`classics classification train --config best_config.json` takes the file as is."""
    from apps.classification.task import TASK
    from apps.cli import build_parser
    from apps.common import cli
    from apps.common import config as config_lib
    from tuning.search import best_logged

    args = build_parser().parse_args(
        ["classification", "train", "--config", str(resumed_search / "best_config.json"),
         "--set", f"runs_dir={tmp_path}"])
    config = cli.config_from_args(TASK, args)
    best = json.loads((resumed_search / "best_config.json").read_text())
    assert {k: v for k, v in config_lib.to_dict(config).items() if k != "runs_dir"} == {
        k: v for k, v in best["config"].items() if k != "runs_dir"}
    run = TASK.train(config, verbose=0)
    score = best_logged(run.path / "log.csv", "val_accuracy", "max")
    # Same config and seed on the same data: equal up to nondeterminism of threaded CPU kernels.
    assert score == pytest.approx(best["score"], abs=0.05)

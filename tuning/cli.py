"""`classics tune <app>`: random search (or Hyperband / Bayesian) over the app's space.

    classics tune classification --trials 20 --max-epochs 3 --directory tune/cls --preset tiny
    classics tune classification ... --hp learning_rate=1e-3:1e-2 --hp blocks=1 --tiers 2 --zoom
    classics tune classification ... --chief 0.0.0.0:8000            # the oracle, runs no trials
    classics tune classification ... --worker chief-host:8000 --worker-id w1
    classics tune classification --strategy multiworker --preset tiny   # one training, TF_CONFIG

Rerunning the same command resumes: finished trials are kept, an interrupted one reruns
from its last finished epoch. Results: trials.csv, best_config.json (feed it to
`classics <app> train --config`), objective_vs_learning_rate.png.
"""

import pathlib

from apps import APPS, get_task
from apps.common import config as config_lib
from apps.common.errors import ConfigError
from tuning import distributed, search, spaces


def add_arguments(parser) -> None:

    parser.add_argument("app", choices=sorted(APPS), help="the app to tune")
    parser.add_argument("--trials", type=int, default=10, help="number of trials per round (default 10)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs per trial (Hyperband: the most a trial gets; the app's budget key, "
                        "e.g. style's fast_steps); default: the config's")
    parser.add_argument("--executions-per-trial", type=int, default=1, metavar="K",
                        help="train each trial K times (seeds seed..seed+K-1) and average")
    parser.add_argument("--directory", default=None, metavar="D",
                        help="search directory (default runs/tune/<app>); rerun to resume")
    parser.add_argument("--algorithm", choices=["random", "hyperband", "bayesian"], default="random")
    parser.add_argument("--hp", action="append", default=[], metavar="NAME=SPEC",
                        help="narrow one hyperparameter: LO:HI, a,b,c or a fixed value (repeatable)")
    parser.add_argument("--tiers", type=int, default=None,
                        help="tune only the course's first N priority tiers (1: learning rate; "
                        "2: + beta, width, batch size; 3: + depth, decay; 4: + regularisation)")
    parser.add_argument("--zoom", action="store_true",
                        help="then a second round of --trials narrowed around the best trials")
    parser.add_argument("--seed", type=int, default=0, help="the search's sampling seed")
    parser.add_argument("--describe", action="store_true", help="print the search space and exit")
    group = parser.add_argument_group("config (the base every trial starts from)")
    group.add_argument("--config", metavar="FILE", help="JSON file of config keys")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                       help="override one config key (repeatable)")
    group.add_argument("--preset", help="a named set of defaults of the app")
    group.add_argument("--data", help="dataset source")
    dist = parser.add_argument_group("distributed (keras-tuner chief/worker; tf.distribute)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--chief", metavar="HOST:PORT",
                      help="serve the oracle on HOST:PORT (0.0.0.0:PORT for other machines)")
    role.add_argument("--worker", metavar="HOST:PORT", help="run trials for the chief at HOST:PORT")
    dist.add_argument("--worker-id", default=None,
                      help="this worker's KERASTUNER_TUNER_ID (restart with the same id to "
                      "recover its trial)")
    dist.add_argument("--timeout", type=float, default=60.0,
                      help="seconds: a worker silent this long is presumed dead and its trial rerun; "
                      "a worker gives up on an unreachable chief after this long (default 60)")


def run(args) -> int:
    task = get_task(args.app)
    base = config_lib.resolve(task.Config, task.presets, config_file=args.config, sets=args.set,
                              preset=args.preset, data=args.data)
    tunable = spaces.tunable(args.app)
    hp = config_lib.parse_sets(args.hp, "--hp", "NAME=SPEC (LO:HI, a,b,c or a value)")
    settings = search.Settings(
        app=args.app, base=config_lib.to_dict(base), trials=args.trials,
        max_epochs=args.max_epochs if args.max_epochs is not None else getattr(base, tunable.budget),
        executions_per_trial=args.executions_per_trial, algorithm=args.algorithm, hp=hp,
        tiers=args.tiers, zoom=args.zoom, seed=args.seed,
    )
    search.validate(settings)
    _, space = spaces.declare(args.app, base, hp, args.tiers)
    if args.describe:
        print(f"{args.app}: objective {tunable.objective} ({tunable.direction})")
        for d in space.declared.values():
            print(f"  tier {d.tier}  {d.name:<18} {d.describe()}"
                  + (f"   overridden: {hp[d.name]}" if d.name in hp else ""))
        return 0
    directory = pathlib.Path(args.directory or pathlib.Path(base.runs_dir) / "tune" / args.app)
    role = None
    if args.chief or args.worker:

        if args.zoom:
            raise ConfigError("--zoom runs in a local search; for a distributed second round, "
                              "rerun with --hp ranges from the first round's zoom of trials.csv")
        role = (distributed.Chief(args.chief, args.timeout) if args.chief
                else distributed.Worker(args.worker, args.worker_id, args.timeout))
    result = search.search(settings, directory, role)
    if result.get("worker"):
        print(f"worker finished: no trials left at {args.worker}")
        return 0
    print(f"{result['completed']} of {result['trials']} trials completed in {directory}")
    if "best" in result:
        best = result["best"]
        print(f"best: {best['trial']} {best['objective']}={best['score']:.4f} {best['hyperparameters']}")
        print(f"results: {directory / 'trials.csv'}, {directory / 'best_config.json'}, {result['png']}")
        print(f"retrain: classics {args.app} train --config {directory / 'best_config.json'}")
    return 0

"""The model's commands: the registry (versions, champion, challenger and how they compare)
and the SKAB evaluation with the production code."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.errors import UsageError
from sensorwatch.cli.command import CommandGroup, arg, one_of
from sensorwatch.config import Settings
from sensorwatch.connectors.sql import SqlStore
from sensorwatch.connectors.sql import statements as q
from sensorwatch.operations.challenger import pair_totals

COMMANDS = CommandGroup()
COMMANDS.group("model", "the model registry: list versions, promote one, roll back the champion, set a challenger "
                        "(scored beside the champion), compare it with the champion")
COMMANDS.group("evaluate", "the SKAB outlier-detection benchmark with the production model code")

VERSION = arg("version", type=int, help="the registered model version")


@COMMANDS.command("model list", "every registered version, its alias and its gate")
def model_list(settings: Settings) -> int:
    from models import registry

    for v in registry.versions(settings.model):
        mark = "champion" if v["champion"] else "challenger" if v["challenger"] else ""
        print(f"v{v['version']:<4d} {mark:10s} {v['created'][:19]}  holdout_error={v.get('holdout_error', '-')}  "
              f"{v.get('gate', '')}")
    return 0


@COMMANDS.command("model promote", "make VERSION the champion", VERSION)
def model_promote(settings: Settings, *, version: int) -> int:
    from models import registry

    registry.promote(settings.model, version)
    print(f"{settings.model.name} v{version} is now '{registry.ALIAS}'")
    return 0


@COMMANDS.command("model rollback", "the champion before the current one becomes the champion again")
def model_rollback(settings: Settings) -> int:
    from models import registry

    print(f"{settings.model.name}: '{registry.ALIAS}' rolled back to v{registry.rollback(settings.model)}")
    return 0


@COMMANDS.command(
    "model challenger", "score VERSION beside the champion from the next prediction run (or --clear)",
    one_of(arg("version", type=int, nargs="?", help="the registered model version"),
           arg("--clear", action="store_true", help="stop scoring the challenger")))
def model_challenger(settings: Settings, *, version: int | None, clear: bool) -> int:
    from models import registry

    conf = settings.model
    if clear:
        cleared = registry.clear_challenger(conf)
        print(f"{conf.name}: no challenger" + (f" (v{cleared} is no longer scored beside the champion)"
                                               if cleared else ""))
        return 0
    assert version is not None  # one_of: the version or --clear
    registry.set_challenger(conf, version)
    print(f"{conf.name} v{version} is now '{registry.CHALLENGER}': scored beside the champion from the next "
          "prediction run (compare: sensorwatch model compare; promote: sensorwatch model promote)")
    return 0


@COMMANDS.command("model compare", "the challenger against the champion: one line per asset, and totals")
def model_compare(settings: Settings) -> int:
    store = SqlStore(settings).with_views()
    rows = store.query(q.model_comparison(store.target))
    if not rows:
        print("(nothing to compare: set a challenger (sensorwatch model challenger VERSION) and let predict run)")
        return 0
    print(f"{'asset':24s} {'champion':>8s} {'challenger':>10s} {'intervals':>9s} {'agreement':>9s} "
          f"{'events':>6s} {'theirs':>6s} {'matched':>7s} {'missed':>6s} {'extra':>5s}")
    for r in rows:
        print(f"{r.asset_id[:24]:24s} {'v' + str(r.champion_version):>8s} {'v' + str(r.challenger_version):>10s} "
              f"{r.intervals:>9d} {r.agreement:>9.3f} {r.champion_events:>6d} {r.challenger_events:>6d} "
              f"{r.matched_events:>7d} {r.missed_events:>6d} {r.extra_events:>5d}")
    for totals in pair_totals(rows):
        print(totals.line())
    return 0


EVALUATION_OUT = arg("--out", help="plots and summary.json (default: var/evaluation/<benchmark>)")


@COMMANDS.command(
    "evaluate skab", "SKAB's files, scored by the SKAB protocol",
    arg("--data", help="SKAB-format folder (default: $SENSORWATCH_SKAB_DIR or ../shared/data/skab)"),
    arg("--files", nargs="*", help="CSV files relative to --data (default: all)"),
    EVALUATION_OUT)
def evaluate_skab(settings: Settings, *, data: str | None, files: list[str] | None, out: str | None) -> int:
    from sensorwatch.sources import skab

    folder = Path(data) if data else skab.default_data_dir()
    return _evaluate(settings, folder, Path(out or "var/evaluation/skab"), files)


@COMMANDS.command(
    "evaluate experiments", "simulated SKAB-shaped experiments, one folder per kind (written under --out)",
    arg("--kinds", nargs="*", help="the kinds (default: all)"),
    arg("--per-kind", type=int, default=3, help="files per kind"),
    arg("--seed", type=int, default=0, help="which draw of each kind"),
    EVALUATION_OUT)
def evaluate_experiments(settings: Settings, *, kinds: list[str] | None, per_kind: int, seed: int,
                         out: str | None) -> int:
    from sensorwatch.sources import experiments

    if per_kind < 1:
        raise UsageError(f"--per-kind must be at least 1, got {per_kind}")
    chosen = tuple(kinds or experiments.KINDS)
    unknown = [k for k in chosen if k not in experiments.KINDS]
    if unknown:
        raise UsageError(f"unknown experiment kind(s) {', '.join(unknown)}; known: {', '.join(experiments.KINDS)}")
    folder = Path(out or "var/evaluation/experiments")
    experiments.write_experiments(folder / "data", chosen, per_kind, seed)
    return _evaluate(settings, folder / "data", folder, None)


def _evaluate(settings: Settings, data: Path, out: Path, files: list[str] | None) -> int:
    from sensorwatch.pipeline import evaluation

    summary = evaluation.evaluate(data, settings.features.spec(), settings.model.spec(), out, files)
    print(evaluation.table(summary))
    print(f"plots and summary.json in {out}")
    print(json.dumps({**{k: summary["pooled"][k]
                         for k in ("f1", "far", "mar", "files", "nab_standard", "event_precision", "event_recall")},
                      "worst_folder": summary["worst_folder"]}))
    return 0

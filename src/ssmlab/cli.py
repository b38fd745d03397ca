"""Command-line interface: `ssmlab info | list | reproduce | run | train` (thin: parse flags -> config -> run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ssmlab: deep state-space models.")


def _version(value: bool | None):
    if value:
        typer.echo(f"ssmlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = None):
    """ssmlab: deep state-space models — layers, theory and reproductions."""


def parse_sets(sets: list[str] | None) -> dict[str, str]:
    """Turn ['key=value', ...] into a dict, with an error that names the bad item."""
    out: dict[str, str] = {}
    for item in sets or []:
        if "=" not in item:
            raise typer.BadParameter(f"--set expects key=value; got {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


@app.command()
def info():
    """Versions, devices and float64 status."""
    from .environment import environment

    for key, value in environment().items():
        typer.echo(f"{key:>8}: {value}")
    typer.echo("     x64: float64 is enabled per computation (theory code runs under jax.enable_x64).")


@app.command("list")
def list_():
    """Registered experiments."""
    from .experiments import experiments

    for name, exp in experiments().items():
        typer.echo(f"{name:<24} {exp.paper}\n{'':<24} checks: {exp.checks}")


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option("--quick/--full", help="CPU-minute presets or the papers' sizes.")] = True,
    only: Annotated[list[str] | None, typer.Option(help="Run only these experiments (repeatable).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory for figures, metrics and the report.")] = Path("results"),
):
    """Run the registered experiments and write report.md / report.html, metrics and figures."""
    from .experiments.runner import reproduce as _reproduce

    try:
        results = _reproduce(out, "quick" if quick else "full", only)
    except KeyError as err:
        raise typer.BadParameter(str(err.args[0]), param_hint="--only") from err
    failed = [n for n, r in results.items() if isinstance(r, str)]
    typer.echo(f"report: {out / 'report.md'} and {out / 'report.html'}")
    if failed:
        typer.echo(f"experiments that raised: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `ssmlab list`).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Start from the full preset instead of quick.")] = False,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("results"),
):
    """Run one experiment with config overrides and write its report."""
    from .experiments.runner import reproduce as _reproduce

    try:
        results = _reproduce(out, "full" if full else "quick", [name], parse_sets(set_))
    except (KeyError, ValueError) as err:
        raise typer.BadParameter(str(err.args[0] if err.args else err)) from err
    if isinstance(results[name], str):
        raise typer.Exit(1)


@app.command()
def train(
    model: Annotated[str, typer.Option(help="Sequence layer name (lru, s4d, stu, ar_stu, linear_ssm).")] = "stu",
    task: Annotated[str, typer.Option(help="Registered task name (e.g. digits).")] = "digits",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a TrainConfig field: key=value.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/<task>-<model>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.npz.")] = False,
    config: Annotated[str | None, typer.Option("--config", help="Preset for the task (e.g. quick, paper).")] = None,
    distributed: Annotated[bool, typer.Option("--distributed", help=(
        "Multi-process data parallelism: run the same command once per process; each loads its rows of every "
        "global batch (batch_size = global batch) and gradients are all-reduced. Process 0 is set by "
        "SSMLAB_COORDINATOR=host:port, the count by SSMLAB_NUM_PROCESSES, the rank by SSMLAB_PROCESS_ID "
        "(0..N-1); under SLURM (srun) all three are detected. Only process 0 writes OUT; a checkpoint resumes "
        "with any process count. See docs/distributed.md."))] = False,
):
    """Train a stacked model on a task; writes config.json, metrics.jsonl, checkpoints and summary.json.

    \b
    Two processes on one machine (CPU, gloo collectives, traffic on 127.0.0.1):
      for i in 0 1; do SSMLAB_COORDINATOR=127.0.0.1:12355 SSMLAB_NUM_PROCESSES=2 SSMLAB_PROCESS_ID=$i \\
        ssmlab train --distributed --out runs/dp & done; wait
    Several hosts: the same with SSMLAB_COORDINATOR=<host of process 0>:<port>, or `srun ssmlab train
    --distributed` under SLURM.
    """
    import dataclasses

    from .train import TrainConfig, TrainingDiverged, preset
    from .train import train as _train
    from .train.config import with_overrides

    try:
        base = preset(task, config, model) if config else TrainConfig(task=task, model=model)
        cfg = with_overrides(base, parse_sets(set_))
        if distributed:
            cfg = dataclasses.replace(cfg, distributed=True)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    out = out if out is not None else Path("runs") / f"{cfg.task}-{cfg.model}"
    try:
        result = _train(cfg, out, resume=resume)
    except TrainingDiverged as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from err
    s = result.summary
    acc = f"test accuracy {s['test_accuracy']:.4f} (best {s['best_accuracy']:.4f})" if "test_accuracy" in s else \
        "no evaluation yet (stopped before the end of an epoch)"
    typer.echo(f"{out}: {s['steps']}/{s['total_steps']} steps, {acc}")


data_app = typer.Typer(no_args_is_help=True, help="Datasets: list tasks, generate LRA stand-ins.")
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list():
    """Registered task names (usable with `ssmlab train --task`)."""
    from .data import task_names

    for name in task_names():
        typer.echo(name)


@data_app.command("generate")
def data_generate(
    kind: Annotated[str, typer.Argument(help="listops or pathfinder")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Root folder the LRA loaders read ($SSMLAB_DATA).")],
    num: Annotated[int, typer.Option(help="Examples to generate (listops: training trees).")] = 2000,
    resolution: Annotated[int, typer.Option(help="Pathfinder image side (32, 64, 128, 256).")] = 32,
    difficulty: Annotated[str, typer.Option(help="Pathfinder difficulty folder.")] = "curv_contour_length_14",
    seed: Annotated[int, typer.Option(help="Random seed (generation is deterministic by seed).")] = 0,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    contour_length: Annotated[int | None, typer.Option(
        help="Pathfinder: paddles per target snake instead of the difficulty's (easier levels; recorded in the "
             "metadata, the folder keeps the difficulty's name).")] = None,
    num_distractors: Annotated[int | None, typer.Option(
        help="Pathfinder: distractor snakes instead of the LRA count.")] = None,
):
    """Write procedurally generated ListOps or Pathfinder data in the released on-disk format."""
    if num < 1:
        raise typer.BadParameter(f"--num must be >= 1; got {num}.")
    if kind == "listops":
        from .data.listops_gen import write_listops

        small = max(1, num // 48)
        out = write_listops(data_dir, num_train=num, num_val=small, num_test=small, seed=seed, workers=workers)
    elif kind == "pathfinder":
        from .data.pathfinder_gen import write_pathfinder

        out = write_pathfinder(data_dir, num=num, resolution=resolution, difficulty=difficulty, seed=seed,
                               workers=workers, contour_length=contour_length, num_distractors=num_distractors)
    else:
        raise typer.BadParameter(f"kind must be 'listops' or 'pathfinder'; got {kind!r}.")
    typer.echo(f"wrote {out}")


def main():
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

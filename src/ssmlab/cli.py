"""Command-line interface: `ssmlab info | list | show | reproduce | run | train | generate` (thin: flags -> run)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from . import __version__

# The click exception types typer raises (typer may vendor its own click), found without private imports.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_DEBUG = {"on": os.environ.get("SSMLAB_DEBUG") == "1"}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _OneLineErrors(TyperGroup):
    """User errors print as one line `error: ...` on stderr with exit code 2 (no usage box, no traceback).

    `ssmlab --debug ...` (or SSMLAB_DEBUG=1) also prints the traceback of the underlying cause.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
            code = rv if isinstance(rv, int) else 0
        except _ClickException as err:
            if _DEBUG["on"] and err.__cause__ is not None:
                traceback.print_exception(err.__cause__)
            message = err.format_message()
            ctx = getattr(err, "ctx", None)
            if ctx is not None and not isinstance(err, typer.BadParameter):
                message += f" (see `{ctx.command_path} --help`)"
            typer.echo(f"error: {_one_line(message)}", err=True)
            code = 2
        except typer.Abort:
            typer.echo("aborted.", err=True)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(add_completion=False, no_args_is_help=True, help="ssmlab: deep state-space models.",
                  cls=_OneLineErrors)


def _usage_error(message: str, flag: str | None = None) -> typer.BadParameter:
    return typer.BadParameter(_one_line(message), param_hint=flag)


def _output_dir(path: Path, flag: str = "--out") -> Path:
    """Create `path` as a writable directory now, or raise a one-line usage error naming `flag`."""
    if path.exists() and not path.is_dir():
        raise _usage_error(f"{path} exists and is not a directory; pass a directory path.", flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ssmlab-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise _usage_error(f"cannot write to {path} ({err.strerror or err}); pass a writable directory.",
                           flag) from err
    return path


def _version(value: bool | None):
    if value:
        typer.echo(f"ssmlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = None,
          debug: Annotated[bool, typer.Option("--debug", help="Show the traceback behind a user error.")] = False):
    """ssmlab: deep state-space models — layers, theory and reproductions."""
    if debug:
        _DEBUG["on"] = True


def parse_sets(sets: list[str] | None) -> dict[str, str]:
    """Turn ['key=value', ...] into an ordered dict, with a one-line usage error that names the bad item."""
    from ._overrides import split_assignment

    out: dict[str, str] = {}
    for item in sets or []:
        try:
            key, value = split_assignment(item)
        except ValueError as err:
            raise _usage_error(str(err), "--set") from err
        out.pop(key, None)  # a repeated key counts at its last position
        out[key] = value
    return out


@app.command()
def info():
    """Versions, devices and float64 status."""
    from .environment import environment

    for key, value in environment().items():
        if key == "x64":  # the global flag is off by design: library code enables float64 where it needs it
            value = f"{value} (float64 is enabled per computation: theory code runs under jax.enable_x64)"
        typer.echo(f"{key:>8}: {value}")


@app.command("list")
def list_():
    """Registered experiments."""
    from .experiments import experiments

    for name, exp in experiments().items():
        typer.echo(f"{name:<24} {exp.paper}\n{'':<24} checks: {exp.checks}")


@app.command()
def show(name: Annotated[str, typer.Argument(help="Experiment name (see `ssmlab list`).")]):
    """An experiment's config keys: types, defaults, the quick and full presets, allowed choices."""
    from ._describe import describe_config
    from .experiments import get

    try:
        exp = get(name)
    except KeyError as err:
        raise _usage_error(str(err.args[0]), "NAME") from err
    choices = {k: "one of " + ", ".join(v) for k, v in getattr(exp.config_cls, "CHOICES", {}).items()}
    typer.echo(f"{exp.name}: {exp.paper}\nchecks: {exp.checks}\n")
    typer.echo(describe_config(exp.config_cls, {"quick": exp.quick, "full": exp.full}, choices))
    typer.echo(f"\nssmlab run {exp.name} [--full] --set key=value (tuples: --set key=a,b,c)")


def _show_train_config(task: str, model: str) -> None:
    """`ssmlab train --show-config`: TrainConfig keys with defaults and the task's presets, the layer spec's
    fields (default and per preset), then the task's options."""
    from ._describe import describe_config, describe_options
    from .data.dataset import task_factory
    from .layers import spec_for
    from .train import TrainConfig, preset, preset_names
    from .train.config import RUN_ONLY_FIELDS

    factory = task_factory(task)  # `train` has checked --task and --model
    presets = {f"--config {n}": preset(task, n, model) for n in preset_names(task)}
    typer.echo(f"TrainConfig (ssmlab train --set key=value; run-only keys, not in the config hash: "
               f"{', '.join(RUN_ONLY_FIELDS)})\n")
    typer.echo(describe_config(TrainConfig, presets))
    spec = spec_for(model)
    typer.echo(f"\nlayer {model!r}: {spec.__name__} (--set layer.key=value; --set layer=NAME switches layer):\n")
    typer.echo(describe_config(spec, {k: p.layer for k, p in presets.items() if p.layer.name == model}))
    typer.echo(f"\ntask {task!r} options (--set task.key=value):\n")
    typer.echo(describe_options(factory))


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option("--quick/--full", help="CPU-minute presets or the papers' sizes.")] = True,
    only: Annotated[list[str] | None, typer.Option(help="Run only these experiments (repeatable).")] = None,
    out: Annotated[Path, typer.Option(help="Output directory for figures, metrics and the report.")] = Path("results"),
):
    """Run the registered experiments and write report.md / report.html, metrics and figures."""
    from .experiments.runner import reproduce as _reproduce

    preset = "quick" if quick else "full"
    _check_experiments(only, preset, {}, flag="--only")
    results = _reproduce(_output_dir(out), preset, only)
    failed = [n for n, r in results.items() if isinstance(r, str)]
    typer.echo(f"report: {out / 'report.md'} and {out / 'report.html'}")
    if failed:
        typer.echo(f"experiments that raised: {', '.join(failed)}", err=True)
        raise typer.Exit(1)


def _check_experiments(names: list[str] | None, preset: str, overrides: dict[str, str], flag: str) -> None:
    """Validate experiment names and every config (with overrides) before anything runs."""
    from .experiments import experiments, get

    for name in names or list(experiments()):
        try:
            exp = get(name)
        except KeyError as err:
            raise _usage_error(str(err.args[0]), flag) from err
        try:
            exp.config(preset, overrides)
        except (ValueError, TypeError) as err:
            raise _usage_error(f"{name}: {err}", "--set") from err


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `ssmlab list`).")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config field: key=value.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Start from the full preset instead of quick.")] = False,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("results"),
):
    """Run one experiment with config overrides and write its report (`ssmlab show NAME` lists the keys)."""
    from .experiments.runner import reproduce as _reproduce

    preset = "full" if full else "quick"
    overrides = parse_sets(set_)
    _check_experiments([name], preset, overrides, flag="NAME")
    results = _reproduce(_output_dir(out), preset, [name], overrides)
    if isinstance(results[name], str):
        raise typer.Exit(1)


@app.command()
def plot(
    names: Annotated[list[str] | None, typer.Argument(help="Experiments to redraw (default: every one in --out).")]
    = None,
    out: Annotated[Path, typer.Option(help="The directory `reproduce` / `run` wrote.")] = Path("results"),
):
    """Redraw experiments' figures from their metrics.json alone (no recomputation), then the report."""
    from .environment import environment
    from .experiments import experiments, get
    from .experiments.report import write_report
    from .experiments.runner import replot

    if not out.is_dir():
        raise _usage_error(f"{out} is not a directory; pass the --out of an earlier `ssmlab reproduce`.", "--out")
    for name in names or []:
        try:
            get(name)
        except KeyError as err:
            raise _usage_error(str(err.args[0]), "NAMES") from err
    chosen = names or [n for n in experiments() if (out / n / "metrics.json").exists()]
    if not chosen:
        raise _usage_error(f"no experiment results in {out}; run `ssmlab reproduce --out {out}` first.", "--out")
    for name in chosen:
        try:
            figures = replot(name, out)
        except ValueError as err:
            raise _usage_error(f"{name}: {err}", "--out") from err
        typer.echo(f"{name}: {len(figures)} figure(s)")
    write_report(out, experiments(), environment())
    typer.echo(f"report: {out / 'report.md'} and {out / 'report.html'}")


@app.command()
def train(
    model: Annotated[str, typer.Option(
        help="Sequence layer name: linear_ssm, stu, ar_stu, lru, s4d, s4, s5, mamba.")] = "stu",
    task: Annotated[str, typer.Option(help="Registered task name (e.g. digits).")] = "digits",
    set_: Annotated[list[str] | None, typer.Option("--set", help=(
        "Override a TrainConfig field: key=value; layer.<option>=value for the layer spec (e.g. "
        "layer.num_filters=24), task.<option>=value for the task (e.g. task.seq_len=128); --show-config lists "
        "them."))] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/<task>-<model>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.npz.")] = False,
    config: Annotated[str | None, typer.Option("--config", help="Preset for the task (e.g. quick, paper).")] = None,
    distributed: Annotated[bool, typer.Option("--distributed", help=(
        "Multi-process data parallelism: run the same command once per process; each loads its rows of every "
        "global batch (batch_size = global batch) and gradients are all-reduced. Process 0 is set by "
        "SSMLAB_COORDINATOR=host:port, the count by SSMLAB_NUM_PROCESSES, the rank by SSMLAB_PROCESS_ID "
        "(0..N-1); under SLURM (srun) all three are detected. Only process 0 writes OUT; a checkpoint resumes "
        "with any process count. See docs/distributed.md."))] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Root folder of downloaded or generated "
                                                  "data (sets $SSMLAB_DATA for this run).")] = None,
    show_config: Annotated[bool, typer.Option("--show-config", help=(
        "Print TrainConfig's keys (types, defaults, the task's presets) and the task's options, then exit."))] = False,
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

    from ._overrides import apply_overrides
    from .data import task_names
    from .data.lra.files import DataFormatError, DataNotFoundError
    from .layers import layer_names, spec_for
    from .train import TrainConfig, TrainingDiverged, preset
    from .train import train as _train

    if model not in layer_names():
        raise _usage_error(f"unknown model {model!r}; choose one of {', '.join(layer_names())}.", "--model")
    if task not in task_names():
        raise _usage_error(f"unknown task {task!r}; `ssmlab data list` shows the {len(task_names())} tasks.",
                           "--task")
    if show_config:
        _show_train_config(task, model)
        return
    try:
        base = preset(task, config, model) if config else TrainConfig(task=task, layer=spec_for(model)())
    except (ValueError, KeyError) as err:
        raise _usage_error(str(err.args[0] if isinstance(err, KeyError) else err), "--config") from err
    try:
        cfg = apply_overrides(base, parse_sets(set_))
        if distributed:
            cfg = dataclasses.replace(cfg, distributed=True)
    except (ValueError, TypeError, KeyError) as err:
        raise _usage_error(str(err.args[0] if isinstance(err, KeyError) else err), "--set") from err
    if data_dir is not None:
        if not data_dir.is_dir():
            raise _usage_error(f"{data_dir} is not a directory; pass the folder that holds the data.", "--data-dir")
        os.environ["SSMLAB_DATA"] = str(data_dir)
    out = _output_dir(out if out is not None else Path("runs") / f"{cfg.task}-{cfg.model}")
    try:
        result = _train(cfg, out, resume=resume)
    except TrainingDiverged as err:
        typer.echo(f"error: {_one_line(err)}", err=True)
        raise typer.Exit(2) from err
    except (DataNotFoundError, DataFormatError) as err:
        raise _usage_error(f"{err} Pass the folder with --data-dir (or set $SSMLAB_DATA).", "--task") from err
    except ValueError as err:
        raise _usage_error(str(err)) from err
    s = result.summary
    metric = next((k for k in s if k.startswith("best_")), "best_accuracy").removeprefix("best_")
    acc = (f"test {metric} {s[f'test_{metric}']:.4f} of the best-validation model (validation "
           f"{s[f'best_{metric}']:.4f})" if f"test_{metric}" in s else
           f"best validation {metric} {s[f'best_{metric}']:.4f}; test not read (interrupted)"
           if s[f"best_{metric}"] is not None else "no evaluation yet (stopped before the end of an epoch)")
    typer.echo(f"{out}: {s['steps']}/{s['total_steps']} steps, {acc}")


@app.command()
def generate(
    run: Annotated[Path, typer.Option("--run", help="Run directory of `ssmlab train` on a byte-level LM task "
                                      "(e.g. --task lm-chars).")],
    prompt: Annotated[str, typer.Option(help="Text to start from (UTF-8 bytes are the tokens).")],
    tokens: Annotated[int, typer.Option(help="Number of tokens (bytes) to generate.")] = 200,
    temperature: Annotated[float, typer.Option(help="Sampling temperature; 0 = greedy.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
):
    """Sample text from a trained causal LM, streaming it to the terminal as it is generated."""
    import codecs

    import jax.random as jr

    from .models.generate import generate_stream
    from .train.load import FILES, load_run

    if tokens < 0:
        raise _usage_error(f"--tokens must be >= 0; got {tokens}.", "--tokens")
    if not temperature >= 0 or temperature == float("inf"):
        raise _usage_error(f"--temperature must be a finite number >= 0 (0 = greedy); got {temperature}.",
                           "--temperature")
    ids = list(prompt.encode("utf-8"))
    if not ids:
        raise _usage_error("--prompt must not be empty; give at least one character.", "--prompt")
    if not run.is_dir():
        raise _usage_error(f"{run} is not a directory; pass the --out folder of `ssmlab train`.", "--run")
    try:  # the best-validation model, else the last checkpoint of a run that has not evaluated yet
        model, _, cfg = load_run(run, which="best" if (run / FILES["best"]).is_file() else "last")
    except ValueError as err:
        raise _usage_error(str(err), "--run") from err
    if not (getattr(model, "input_kind", "") == "tokens" and getattr(model, "pooling", "") == "none"
            and getattr(getattr(model, "encoder", None), "num_embeddings", 0) == 256
            and getattr(getattr(model, "decoder", None), "out_features", 0) == 256):
        raise _usage_error(f"{run} was trained on task {cfg.task!r}, not a byte-level language model (token "
                           "inputs, 256 outputs per step); generate from a run of `ssmlab train --task lm-chars`.",
                           "--run")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        stream = generate_stream(model, None, ids, tokens, jr.key(seed), temperature)
        typer.echo(prompt, nl=False)
        for token in stream:
            typer.echo(decoder.decode(bytes([token])), nl=False)
    except (TypeError, ValueError) as err:
        raise _usage_error(f"cannot generate from {run}: {err}", "--run") from err
    typer.echo(decoder.decode(b"", final=True))


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
        raise _usage_error(f"--num must be >= 1; got {num}.", "--num")
    if workers < 1:
        raise _usage_error(f"--workers must be >= 1 (1 = this process only); got {workers}.", "--workers")
    if kind not in ("listops", "pathfinder"):
        raise _usage_error(f"kind must be 'listops' or 'pathfinder'; got {kind!r}.", "KIND")
    _output_dir(data_dir, "--data-dir")
    if kind == "listops":
        from .data.listops_gen import write_listops

        small = max(1, num // 48)
        out = write_listops(data_dir, num_train=num, num_val=small, num_test=small, seed=seed, workers=workers)
    elif kind == "pathfinder":
        from .data.pathfinder_gen import write_pathfinder

        try:
            out = write_pathfinder(data_dir, num=num, resolution=resolution, difficulty=difficulty, seed=seed,
                                   workers=workers, contour_length=contour_length, num_distractors=num_distractors)
        except ValueError as err:
            raise _usage_error(str(err)) from err
    typer.echo(f"wrote {out}")


def main():
    """Console-script entry point (user errors: one line on stderr, exit code 2)."""
    app()


if __name__ == "__main__":
    main()

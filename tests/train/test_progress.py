"""Training progress without a terminal: plain lines on the stream, none on a terminal."""

import io

from ssmlab.train.progress_bar import TrainProgress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _run(stream, *, total=6, start=0, print_every=2, enabled=True):
    with TrainProgress(total=total, start=start, enabled=enabled, steps_per_epoch=3, print_every=print_every,
                       stream=stream) as bar:
        for step in range(start + 1, total + 1):
            bar.update(loss=1.0 / step, examples=4, accuracy=0.25)
            if step % 3 == 0:
                bar.epoch({"event": "epoch", "epoch": step // 3, "step": step, "train_loss": 0.5,
                           "val_accuracy": 0.75, "elapsed_s": 1.0}, 2)
    return stream.getvalue().splitlines()


def test_plain_lines_every_n_steps_and_per_epoch_when_not_a_terminal():
    lines = _run(io.StringIO())
    steps = [ln for ln in lines if ln.startswith("step ")]
    epochs = [ln for ln in lines if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in steps] == ["2/6", "4/6", "6/6"]
    assert steps[1].startswith("step 4/6 epoch 2/2 loss 0.2500 acc 0.2500 ") and " ex/s elapsed " in steps[1]
    assert " eta 0:00:00" in steps[-1] and "eta" not in _run(io.StringIO(), total=1, print_every=1)[0]
    assert epochs == [ln for ln in lines if "train_loss 0.5000 val_accuracy 0.7500" in ln] and len(epochs) == 2
    assert epochs[0].startswith("epoch 1/2 step 3/6 ")


def test_no_lines_on_a_terminal_or_when_disabled_and_resume_counts_from_start():
    assert _run(_Tty()) == [] and _run(io.StringIO(), enabled=False) == []
    assert [ln.split()[1] for ln in _run(io.StringIO(), start=3) if ln.startswith("step")] == ["4/6", "6/6"]
    auto = _run(io.StringIO(), total=200, print_every=0)  # 0 = about 20 lines per run
    assert sum(ln.startswith("step") for ln in auto) == 20


def test_a_closed_stream_does_not_stop_training():
    stream = io.StringIO()
    stream.close()
    assert TrainProgress(total=2, stream=stream).lines  # closed: isatty raises, treated as not a terminal
    with TrainProgress(total=2, stream=stream, print_every=1) as bar:
        bar.update(loss=1.0, examples=1)
        assert not bar.lines

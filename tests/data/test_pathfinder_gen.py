"""Generated Pathfinder: balance, determinism, snake geometry, markers, rendering, and the on-disk round trip."""

from __future__ import annotations

import numpy as np
import pytest

from ssmlab.data import make_task
from ssmlab.data.pathfinder_gen import generate_pathfinder, settings, write_pathfinder


@pytest.fixture(scope="module")
def sample():
    return generate_pathfinder(8, resolution=32, seed=3, batch_size=4, keep_geometry=True)


def _seg_distance(p, a, b):
    d = b - a
    t = np.clip((p - a) @ d / (d @ d), 0, 1)
    return np.linalg.norm(p - a - t * d)


def test_balance_and_determinism(sample):
    assert sample["images"].shape == (8, 32, 32) and sample["images"].dtype == np.uint8
    for k in (0, 1):
        assert sample["labels"][sample["batch"] == k].sum() == 2  # exactly balanced per batch of 4
    again = generate_pathfinder(4, resolution=32, seed=3, batch_size=4)
    np.testing.assert_array_equal(again["images"], sample["images"][:4])
    # Batch k is seeded seed + k: the second batch of seed 3 is the first batch of seed 4 (and differs).
    other = generate_pathfinder(4, resolution=32, seed=4, batch_size=4)
    np.testing.assert_array_equal(other["images"], sample["images"][4:])
    assert not np.array_equal(other["images"], sample["images"][:4])


def test_snake_geometry_and_markers(sample):
    cfg = settings(32, "curv_contour_length_14")
    max_turn = np.pi / (2 * cfg.continuity) + 1e-9
    for label, geo in zip(sample["labels"], sample["geometry"], strict=True):
        a_snake, b_snake = geo["targets"]
        for snake in (a_snake, b_snake):
            assert len(snake) == cfg.contour_length
            for (a0, _b0, t0), (a1, b1, t1) in zip(snake[:-1], snake[1:], strict=True):
                assert np.isclose(np.linalg.norm(b1 - a1), cfg.paddle_length)
                assert np.isclose(np.linalg.norm(a1 - a0), cfg.paddle_length + 2 * cfg.margin)
                turn = np.angle(np.exp(1j * (t1 - t0)))
                assert abs(turn) <= max_turn
            pts = np.concatenate([np.stack([a, b]) for a, b, _ in snake])
            assert pts.min() >= cfg.padding and pts.max() <= cfg.resolution - cfg.padding
        # The two targets never touch: sampled points of A stay off B's paddles by about the margin.
        gap = min(_seg_distance(a + t * (b - a), c, d) for a, b, _ in a_snake for t in np.linspace(0, 1, 5)
                  for c, d, _ in b_snake)
        assert gap >= 0.9 * cfg.margin
        m0, m1 = geo["markers"]
        np.testing.assert_allclose(m0, a_snake[0][0])
        ends_a = np.allclose(m1, a_snake[-1][1])
        assert ends_a == bool(label)
        if not label:
            np.testing.assert_allclose(m1, b_snake[-1][1])


def test_rendering_markers_bright_and_foreground_band(sample):
    for img, geo in zip(sample["images"], sample["geometry"], strict=True):
        for m in geo["markers"]:
            x, y = np.clip(np.floor(m).astype(int), 0, 31)
            assert img[y, x] >= 200  # the marker disc (radius 1.5 px) covers its centre pixel
        a, b, _ = geo["targets"][0][5]
        mid = np.clip(np.floor((a + b) / 2).astype(int), 0, 31)
        assert img[mid[1], mid[0]] > 0  # paddles are drawn where the generator put them
    frac = (sample["images"] > 0).mean(axis=(1, 2))
    assert np.all((frac > 0.08) & (frac < 0.45)), frac


def test_write_then_load_round_trip(tmp_path, sample):
    root = write_pathfinder(tmp_path, num=8, resolution=32, seed=3, batch_size=4)
    assert (root / "imgs" / "1" / "sample_3.png").is_file()
    meta = (root / "metadata" / "1.npy").read_text().splitlines()
    assert len(meta) == 4 and len(meta[0].split()) == 11 and meta[0].startswith("imgs/1 sample_0.png 0 ")
    task = make_task("pathfinder", data_dir=tmp_path, center=False, cache=False)
    x = np.concatenate([task.train.x, task.validation.x, task.test.x])[:, :, 0]
    y = np.concatenate([task.train.y, task.validation.y, task.test.y])
    want = sample["images"].reshape(8, -1) / 255.0
    for row, label in zip(x, y, strict=True):
        i = int(np.argmin(np.abs(want - row[None, :]).sum(axis=1)))
        np.testing.assert_allclose(row, want[i], atol=1e-6)
        assert label == sample["labels"][i]


def test_settings_and_errors():
    s = settings(128, "curv_baseline")
    assert (s.contour_length, s.distractor_length, s.num_distractors) == (6, 2, 17)
    assert settings(32).num_distractors == 5 and settings(256).num_distractors == 7
    with pytest.raises(ValueError, match="resolution must be one of"):
        settings(48)
    with pytest.raises(ValueError, match="difficulty must be one of"):
        generate_pathfinder(2, difficulty="curv_hard")
    gen = make_task("pathfinder-gen", num_train=4, num_test=2, difficulty="curv_baseline")
    assert gen.train.x.shape == (4, 1024, 1) and gen.train.x.min() >= -1 and gen.train.x.max() <= 1


def test_easier_levels_override_contour_length_and_distractors():
    s = settings(32, "curv_baseline", num_distractors=0, contour_length=3)
    assert (s.contour_length, s.distractor_length, s.num_distractors) == (3, 1, 0)
    assert settings(32, contour_length=9).num_distractors == 20 // 3  # distractor count follows the LRA rule
    easy = generate_pathfinder(6, resolution=32, difficulty="curv_baseline", seed=2, batch_size=6, keep_geometry=True,
                               num_distractors=0, contour_length=3)
    for g, label, img in zip(easy["geometry"], easy["labels"], easy["images"], strict=True):
        sa, sb = g["targets"]
        assert len(sa) == len(sb) == 3 and g["num_distractors"] == 0
        np.testing.assert_allclose(g["markers"][1], sa[-1][1] if label == 1 else sb[-1][1])
        # without distractors, every lit pixel lies near a target paddle or a marker
        ys, xs = np.nonzero(img)
        near = np.zeros(len(xs), bool)
        for a, b, _ in (*sa, *sb):
            d = b - a
            t = np.clip(((xs + 0.5 - a[0]) * d[0] + (ys + 0.5 - a[1]) * d[1]) / (d @ d), 0, 1)
            near |= np.hypot(xs + 0.5 - a[0] - t * d[0], ys + 0.5 - a[1] - t * d[1]) < 1.5
        for m in g["markers"]:
            near |= np.hypot(xs + 0.5 - m[0], ys + 0.5 - m[1]) < 2.5
        assert near.all()
    with pytest.raises(ValueError, match="contour_length must be >= 2"):
        settings(32, contour_length=1)
    with pytest.raises(ValueError, match="num_distractors must be >= 0"):
        generate_pathfinder(2, num_distractors=-1)
    task = make_task("pathfinder-gen", num_train=4, num_test=2, difficulty="curv_baseline", contour_length=3,
                     num_distractors=0)
    assert task.train.x.shape == (4, 1024, 1)


@pytest.mark.slow
def test_worker_processes_give_the_same_images():
    one = generate_pathfinder(8, resolution=32, difficulty="curv_baseline", seed=5, batch_size=4)
    two = generate_pathfinder(8, resolution=32, difficulty="curv_baseline", seed=5, batch_size=4, workers=2)
    np.testing.assert_array_equal(one["images"], two["images"])
    np.testing.assert_array_equal(one["labels"], two["labels"])

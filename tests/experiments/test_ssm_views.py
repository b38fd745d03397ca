import json

from ssmlab.experiments.runner import run_one
from ssmlab.experiments.ssm_views import plot


def test_ssm_views_small(tmp_path):
    result = run_one("ssm-views", tmp_path, "quick", {"lengths": "1,33", "trials": "1", "state_size": "4"})
    assert {c.verdict for c in result.claims} == {"pass"}
    assert (tmp_path / "ssm-views" / "kernel_and_frequency_response.png").stat().st_size > 1000
    errs = json.loads((tmp_path / "ssm-views" / "metrics.json").read_text())["metrics"]["max_rel_err"]
    assert max(errs.values()) < 1e-10
    out = tmp_path / "ssm-views"
    (out / "kernel_and_frequency_response.png").unlink()
    assert plot(json.loads(json.dumps(result.metrics)), out) == [out / "kernel_and_frequency_response.png"]
    assert (out / "kernel_and_frequency_response.png").stat().st_size > 1000  # redrawn from the metrics alone

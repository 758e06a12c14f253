"""bench.report: the replicas of one run add up to the totals a single gateway would show."""

from __future__ import annotations

import json

from bench.report import _percentile, read_replica_stats, read_stats


def _entry(name: str, times: dict[int, int], start: float, last: float, failures: int = 0):
    return {
        "name": name,
        "method": "POST",
        "response_times": {str(k): v for k, v in times.items()},
        "num_requests": sum(times.values()),
        "num_none_requests": 0,
        "num_failures": failures,
        "start_time": start,
        "last_request_timestamp": last,
    }


def test_replicas_are_summed_and_their_percentiles_merged_from_the_histograms(tmp_path):
    fast = {10: 90, 20: 10}  # replica 1: 100 requests, p99 20 ms
    slow = {20: 50, 500: 50}  # replica 2: 100 requests, half of them very slow
    entries = [
        _entry("chat json @1", fast, start=100.0, last=110.0, failures=1),
        _entry("chat json @2", slow, start=101.0, last=112.0, failures=2),
    ]
    (tmp_path / "gateway.json").write_text(json.dumps(entries))

    total = read_stats(tmp_path / "gateway")["chat json"]

    assert (total.count, total.failures) == (200, 3)
    assert total.rps == 200 / 12  # all requests over the span both replicas were busy
    merged = {10: 90, 20: 60, 500: 50}
    assert total.percentiles["50%"] == _percentile(merged, 200, 0.5) == 20.0
    assert total.percentiles["90%"] == 500.0  # not the mean of the replicas' p90s
    replicas = read_replica_stats(tmp_path / "gateway")
    assert list(replicas) == ["1", "2"]
    assert replicas["1"]["chat json"].percentiles["90%"] == 20.0
    assert replicas["2"]["chat json"].count == 100


def test_one_base_url_keeps_the_names_and_has_no_replica_rows(tmp_path):
    (tmp_path / "gateway.json").write_text(json.dumps([_entry("chat json", {5: 4}, 0.0, 2.0)]))
    assert read_stats(tmp_path / "gateway")["chat json"].rps == 2.0
    assert read_replica_stats(tmp_path / "gateway") == {}

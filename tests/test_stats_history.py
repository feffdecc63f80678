"""Stats history (api.md §6.3, product.md §5.4): 1 s points in memory, 10 s / 5 min aggregates in
history.db — charts that survive a stream ending and a manager restart."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from bilbycast.services.history import HistoryStore, bucketise


def _samples(bitrate: float, lost: float) -> list[tuple]:
    return [("node", "", None, "bitrate_bps", bitrate, False),
            ("flow", "srt-1", "SRT from stadium", "bitrate_bps", bitrate, False),
            ("flow", "srt-1", "SRT from stadium", "packets_lost", lost, True)]


def test_ten_second_buckets_reach_the_database_and_outlive_the_process(tmp_path):
    store = HistoryStore(tmp_path / "history.db")
    store.open()
    start = 1_800_000_000  # a multiple of 300: buckets line up
    for second in range(35):
        store.record("node-a", _samples(4_000_000 + 1000 * second, 10 * second), now=start + second)
    store.write(store.harvest(now=start + 35))
    store.close()

    reopened = HistoryStore(tmp_path / "history.db")  # a new process: nothing in memory
    reopened.open()
    series = {(eid, metric): sid for sid, eid, _name, metric in reopened.stored_series("node-a", "flow")}
    points = reopened.stored_points("10s", series[("srt-1", "bitrate_bps")], start, start + 40)
    assert [p[0] for p in points] == [start, start + 10, start + 20]
    first = points[0]
    assert first[2] == 4_000_000 and first[3] == 4_009_000  # min and max of the bucket
    assert abs(first[1] - 4_004_500) < 1  # its average
    lost = reopened.stored_points("10s", series[("srt-1", "packets_lost")], start, start + 40)
    assert lost and all(abs(avg - 10.0) < 0.01 for _ts, avg, _lo, _hi in lost)  # a counter becomes a rate
    reopened.close()


def test_gaps_stay_null_when_bucketised():
    points = [(100, 1.0, 1.0, 1.0), (120, 3.0, 2.0, 4.0)]
    assert bucketise(points, 100, 130, 10) == [[100, 1.0, 1.0, 1.0], [110, None, None, None], [120, 3.0, 2.0, 4.0]]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_charts_survive_a_stopped_stream_and_a_manager_restart(unstarted_manager):
    manager = unstarted_manager
    manager.setup()
    manager.start("--demo", "3")
    token = manager.token()
    with manager.api(token) as api:
        edge = next(n for n in api.get("/api/v1/nodes").json() if n["device_type"] == "edge")
        time.sleep(24)  # two 10 s buckets harvested and flushed
        recent = api.get(f"/api/v1/nodes/{edge['id']}/stats/history", params={"entity": "flow"}).json()
        assert recent["resolution"] == "1s" or recent["resolution"] == "10s"
        flows = [s for s in recent["series"] if s["metric"] == "bitrate_bps"]
        assert flows and any(p[1] for s in flows for p in s["points"])
        flow_id = flows[0]["entity_id"]
        assert api.post(f"/api/v1/nodes/{edge['id']}/flows/{flow_id}/stop").status_code == 200
    manager.stop()
    manager.start()  # no demo fleet this time: the node stays offline
    token = manager.token()
    with manager.api(token) as api:
        now = datetime.now(timezone.utc)
        older = api.get(f"/api/v1/nodes/{edge['id']}/stats/history",
                        params={"entity": "flow", "id": flow_id, "metric": "bitrate_bps",
                                "from": _iso(now - timedelta(hours=1)), "to": _iso(now)}).json()
        assert older["resolution"] == "10s"
        [series] = older["series"]
        assert series["entity_id"] == flow_id and series["unit"] == "bps"
        values = [p[1] for p in series["points"] if p[1] is not None]
        assert values and max(values) > 0, "the stream's history is still there after the restart"

"""Run summaries and exit verdicts, on hand-built timelines."""

from __future__ import annotations

import signal
from pathlib import Path

from memhound.analysis.summary import diagnose_exit, summarize
from memhound.model.run import ExitStatus, Run, RunMeta
from memhound.model.timeline import GcEvent, ProcessExit, ProcessInfo, ProcSample, Sample, Timeline

MiB = 1024 * 1024


def meta(**kw: object) -> RunMeta:
    base: dict[str, object] = dict(
        kind="run",
        command=("python", "job.py"),
        target_pid=10,
        cwd="/",
        started_at="",
        started_epoch_s=0.0,
        interval_s=0.05,
        memhound_version="test",
    )
    base.update(kw)
    return RunMeta(**base)  # type: ignore[arg-type]


def sample(t: float, *procs: tuple[int, int, int]) -> Sample:
    ps = tuple(
        ProcSample(
            pid=pid, rss_bytes=rss, pss_bytes=pss, uss_bytes=pss, swap_bytes=0, peak_rss_bytes=rss
        )
        for pid, rss, pss in procs
    )
    return Sample(
        t=t,
        total_pss_bytes=sum(p[2] for p in procs),
        total_rss_bytes=sum(p[1] for p in procs),
        total_uss_bytes=None,
        procs=ps,
    )


def test_peak_final_and_processes() -> None:
    tl = Timeline()
    tl.add(ProcessInfo(pid=10, ppid=1, cmdline=("python", "job.py"), t=0.0))
    tl.add(ProcessInfo(pid=11, ppid=10, cmdline=("worker",), t=0.1))
    tl.add(sample(0.0, (10, 10 * MiB, 10 * MiB)))
    tl.add(sample(0.1, (10, 50 * MiB, 40 * MiB), (11, 50 * MiB, 20 * MiB)))
    tl.add(sample(0.2, (10, 90 * MiB, 70 * MiB), (11, 50 * MiB, 20 * MiB)))
    tl.add(ProcessExit(pid=11, t=0.25))
    tl.add(sample(0.3, (10, 30 * MiB, 30 * MiB)))
    s = summarize(Run(Path("."), meta(), tl))
    assert s.peak_total_pss_bytes == 90 * MiB
    assert s.peak_t == 0.2
    assert s.peak_total_rss_bytes == 140 * MiB
    assert s.start_total_pss_bytes == 10 * MiB
    assert s.final_total_pss_bytes == 30 * MiB
    assert s.max_processes == 2
    assert [p.pid for p in s.processes] == [10, 11]
    assert s.processes[0].peak_rss_bytes == 90 * MiB
    assert s.processes[1].exited and not s.processes[0].exited
    assert s.processes[1].cmdline == ("worker",)
    assert s.gc is None


def test_kernel_max_rss_raises_the_targets_peak() -> None:
    """A peak that fell between two samples still shows, from wait4's rusage."""
    tl = Timeline()
    tl.add(sample(0.0, (10, 10 * MiB, 10 * MiB)))
    m = meta(exit=ExitStatus(returncode=0, max_rss_bytes=210 * MiB))
    s = summarize(Run(Path("."), m, tl))
    assert s.processes[0].peak_rss_bytes == 210 * MiB


def test_gc_statistics_keep_the_last_n() -> None:
    tl = Timeline()
    for i in range(30):
        tl.add(
            GcEvent(
                t=i * 0.1,
                pid=10,
                generation=i % 3,
                collected=i,
                uncollectable=0,
                duration_s=0.001 * i,
            )
        )
    s = summarize(Run(Path("."), meta(), tl), gc_keep=5)
    assert s.gc is not None
    assert s.gc.collections == (10, 10, 10)
    assert s.gc.collected == sum(range(30))
    assert abs(s.gc.pause_max_s - 0.029) < 1e-9
    assert [e.collected for e in s.gc.last] == [25, 26, 27, 28, 29]


def test_empty_timeline() -> None:
    s = summarize(Run(Path("."), meta(), Timeline()))
    assert s.samples == 0 and s.peak_total_pss_bytes is None and s.processes == ()


def test_exit_codes_pass_through() -> None:
    st = diagnose_exit(3, samples=[], limit_bytes=None, oom_kills_before=None, oom_kills_after=None)
    assert st.returncode == 3 and st.signal is None and st.oom is None
    assert st.describe() == "exited with code 3"


def test_signal_other_than_kill_is_not_oom() -> None:
    st = diagnose_exit(
        -signal.SIGTERM, samples=[], limit_bytes=None, oom_kills_before=0, oom_kills_after=0
    )
    assert st.returncode == 128 + signal.SIGTERM
    assert st.signal_name == "SIGTERM" and st.oom is None


def test_sigkill_with_oom_counter_rise_is_oom() -> None:
    st = diagnose_exit(
        -9,
        samples=[sample(1.0, (10, 140 * MiB, 140 * MiB))],
        limit_bytes=150 * MiB,
        oom_kills_before=2,
        oom_kills_after=3,
    )
    assert st.oom is not None and st.oom.likely
    assert "OOM killer" in st.oom.reason
    assert st.oom.memory_at_death_bytes == 140 * MiB
    assert "most likely OOM-killed" in st.describe()


def test_sigkill_near_limit_is_oom() -> None:
    st = diagnose_exit(
        -9,
        samples=[sample(1.0, (10, 95 * MiB, 90 * MiB))],
        limit_bytes=100 * MiB,
        oom_kills_before=None,
        oom_kills_after=None,
    )
    assert st.oom is not None and st.oom.likely
    assert "95% of the 100.0 MiB limit" in st.oom.reason


def test_sigkill_far_from_limit_is_not_oom() -> None:
    st = diagnose_exit(
        -9,
        samples=[sample(1.0, (10, 20 * MiB, 20 * MiB))],
        limit_bytes=100 * MiB,
        oom_kills_before=0,
        oom_kills_after=0,
    )
    assert st.oom is not None and not st.oom.likely
    st2 = diagnose_exit(
        -9, samples=[], limit_bytes=None, oom_kills_before=None, oom_kills_after=None
    )
    assert st2.oom is not None and not st2.oom.likely and "--limit" in st2.oom.reason


def test_kernel_log_settles_it() -> None:
    msg = "Memory cgroup out of memory: Killed process 10 (python) total-vm:137512kB"
    st = diagnose_exit(
        -9,
        samples=[sample(1.0, (10, 20 * MiB, 20 * MiB))],
        limit_bytes=None,
        oom_kills_before=None,
        oom_kills_after=None,
        kernel_oom_message=msg,
    )
    assert st.oom is not None and st.oom.likely
    assert st.oom.reason == f"the kernel's log says: {msg}"


def test_resource_trends_and_attribution() -> None:
    from memhound.model.timeline import ResourceSample

    tl = Timeline()
    for i in range(30):
        backends = min(i, 25)  # grows, then the process exits and its sessions close
        tl.add(
            ResourceSample(
                t=i * 0.5,
                totals={"fds": 10, "postgres.backends": backends if i < 29 else 0},
                by_pid={10: {"fds": 10, "postgres.backends": backends if i < 29 else 0}},
            )
        )
    s = summarize(Run(Path("."), meta(), tl))
    res = {r.name: r for r in s.resources}
    assert not res["fds"].growing and res["fds"].per_minute == 0
    pg = res["postgres.backends"]
    assert pg.growing and pg.peak == 25 and pg.last == 0
    assert pg.by_pid_at_peak == {10: 25}
    assert 100 < pg.per_minute < 140  # ~2 per second

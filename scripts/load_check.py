"""Ten visitors at once on a local server: time to a complete page, server memory and CPU (a bounded check).

    .venv/bin/python scripts/load_check.py [--sessions 10] [--settle 60] [--after-ttl 150] [--timeout 120]
                                           [--heavy-timeout 30] [--same QUERY] [--server-env MALLOC_ARENA_MAX=2]

Loopback only; it starts its own `streamlit run app.py` on a free 127.0.0.1 port, stops it (by its PID) at the
end and never runs longer than its time limits: every visit has a timeout, every wait for an idle server too; the
whole check takes about 6 minutes (no more than about 20 if every limit is hit).

Which app is served: the checkout holding PYTHONPATH's gradviz, else this repository's (as scripts/bench.py).

The visitors are browser-less: each is one connection to Streamlit's websocket (/_stcore/stream), speaking
its protocol as the browser does (a BackMsg `rerun_script` with the URL's query string; the server answers
with ForwardMsgs: `new_session` when the script starts, one `delta` per element, `script_finished` at the end).
This costs the server exactly what a browser tab costs it (the same script run, the same messages) without a
browser's CPU on the same two cores. A visit records, from the moment it asks for the page: the first chart
element (a `vega_lite_chart` delta), the end of the script (`script_finished`), every exception element
(an error shown on the page), the notices and the buttons (e.g. the work budget's "run" offer).

The server process is measured from /proc (no psutil): resident memory (VmRSS; the peak from VmHWM after
resetting it through /proc/<pid>/clear_refs, and from sampling every 0.1 s), CPU-seconds (utime + stime). Its job
board's worker processes (its descendants) are measured apart: their RSS sampled with the server's, their VmHWM;
their CPU-seconds count in the server's.

What it prints (issue 12's targets in brackets):
1. two baselines: the default page visited once and its background warm-up finished (issue 12's "warm
   baseline"), then after one visit of every section (the data and code paths a server loads once);
2. K concurrent sessions with different default-size settings (a new seed each, across the sections; with --same,
   all K on one query string, as a class following the teacher's link): per
   session the time to the first chart and to a complete page [≤ 30 s each], errors [0: no exception element, no
   "this computation failed" notice, no failed or timed-out visit]; server RSS before /
   peak [≤ 600 MB] / after / 60 s after [≤ 1.2× the warm baseline; also shown against the second baseline]; the
   server's CPU-seconds; meanwhile a fresh visitor opens the default page at 2, 4, 6 and 8 s into the load (its
   HTML, then its websocket: the page from asking [≤ 5 s]) and /_stcore/health is asked every 0.5 s [≤ 1 s each,
   issue 19's targets]; the workers' RSS, and the server's and workers' together [≤ 690 MB, a free Community Cloud
   container];
   and RSS past Streamlit's 120 s disconnectedSessionTTL (when closed sessions are dropped);
3. the heaviest URLs, each opened by one session that waits at most --heavy-timeout (30 s) and then leaves: the
   server CPU-seconds it costs without a click on "run" [≤ 10 s] and whether the page offers "run";
4. one uncached setting opened by one session, then another uncached setting of the same size opened by two
   sessions at once, then two different ones at once: server CPU-seconds of each [two sessions with one
   setting cost one computation].
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH, so PYTHONPATH chooses the checkout
# The app that is served: the checkout holding the gradviz that PYTHONPATH names, else this repository
# (PYTHONPATH=/path/to/checkout python scripts/load_check.py measures that checkout's app.py).
REPO = Path(importlib.util.find_spec("gradviz").origin).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MB = 2**20

# The section's sizes stay at their defaults; a new seed makes every setting uncached.
SECTION_ROTATION = ("chain", "layers", "time", "deep", "chain", "layers", "time", "deep", "theory", "run")
HEAVIEST = (
    "section=chain&depth=10000&steps=200",
    "section=layers&hidden=6&width=100&epochs=500",
    "section=deep&deep_depth=100&deep_width=512&seeds=20",
    "section=time&length=1000&steps=200",
    "section=chain&depth=10000&steps=200&hidden=6&width=100&epochs=500&gating=1&clip=1&regularize=1&penalty=L1",
)
# One visit of each section before the load (seeds nobody else asks for), for the second baseline.
SECTION_WARMERS = ("section=chain&seed=900", "section=layers&seed=900", "section=time&seed=900",
                   "section=deep&init=he", "section=theory&clip=1&clip_threshold=7", "section=run&example=vanishing")
# Issue 12's targets.
COMPLETE_TARGET_S = 30.0
PEAK_TARGET_MB = 600.0
RECOVERY_TARGET = 1.2
HEAVY_CPU_TARGET_S = 10.0
FRESH_TARGET_S = 5.0
HEALTH_TARGET_S = 1.0
# Seconds into the load when a fresh visitor opens the default page (issue 19 saw them wait 12.8-31.5 s).
FRESH_ARRIVALS = (2.0, 4.0, 6.0, 8.0)


def load_text() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the server ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`streamlit run app.py` on a free loopback port, as a context manager; its memory and CPU from /proc."""

    def __init__(self, app: str = "app.py", startup_timeout: float = 60.0, extra_args: tuple[str, ...] = (),
                 env: dict | None = None):
        self.env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.command = [sys.executable, "-m", "streamlit", "run", app, "--server.headless", "true",
                        "--server.address", "127.0.0.1", "--server.port", str(self.port),
                        "--browser.gatherUsageStats", "false", *extra_args]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._log = None
        self.started_in = None

    def __enter__(self) -> Server:
        self._log = tempfile.TemporaryFile(mode="w+")
        start = time.perf_counter()
        self.process = subprocess.Popen(self.command, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + self.startup_timeout
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not come up; its output:\n{self.log()}")
            time.sleep(0.05)
        self.started_in = time.perf_counter() - start
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the server by its PID (kill it after `grace` seconds)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _status(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def rss_mb(self) -> float:
        return self._status("VmRSS") / 1024  # kB -> MB

    def hwm_mb(self) -> float:
        """The peak resident memory since the process started or since reset_peak()."""
        return self._status("VmHWM") / 1024

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs); False if not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The server's descendant processes (the job board's workers), from /proc/<pid>/task/*/children."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            for children in Path(f"/proc/{pid}").glob("task/*/children"):
                try:
                    kids = [int(child) for child in children.read_text().split()]
                except OSError:
                    continue
                found.extend(kids)
                todo.extend(kids)
        return found

    def workers_rss_mb(self) -> float:
        """The resident memory of every worker process together (a worker gone between the listing and the read
        counts 0)."""
        return sum(_status_kb(pid, "VmRSS") for pid in self.workers()) / 1024

    def workers_hwm_mb(self) -> list[float]:
        """Each live worker's peak resident memory (VmHWM), MB."""
        return [_status_kb(pid, "VmHWM") / 1024 for pid in self.workers()]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its workers: every thread of the server, the workers it has
        reaped (cutime, cstime) and the live ones."""
        fields = _stat_fields(self.pid)
        own = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime (fields 14-17 of stat)
        live = 0
        for pid in self.workers():
            try:
                live += sum(int(f) for f in _stat_fields(pid)[11:13])
            except OSError:
                continue
        return (own + live) / CLOCK_TICKS

    def threads(self) -> int:
        return self._status("Threads")

    def wait_idle(self, quiet: float = 1.5, busy_below: float = 0.05, timeout: float = 120.0) -> float:
        """Wait until the server used less than `busy_below` of a core over `quiet` seconds; return the wait."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            before = self.cpu_seconds()
            time.sleep(quiet)
            if self.cpu_seconds() - before < busy_below * quiet:
                return time.monotonic() - start
        return time.monotonic() - start


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Periodic:
    """Calls self.sample() every `interval` seconds in a thread while in the `with` block (until it returns False)."""

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set() and self.sample():
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class MemorySampler(Periodic):
    """Samples the server's RSS and its workers' every `interval` seconds; .peak (the server's), .workers_peak and
    .total_peak (the two together at one instant)."""

    def __init__(self, server: Server, interval: float = 0.1):
        super().__init__(interval)
        self.server = server
        self.samples: list[tuple[float, float, float]] = []

    def sample(self) -> bool:
        try:
            self.samples.append((time.monotonic(), self.server.rss_mb(), self.server.workers_rss_mb()))
        except OSError:
            return False
        return True

    @property
    def peak(self) -> float:
        return max((rss for _, rss, _ in self.samples), default=float("nan"))

    @property
    def workers_peak(self) -> float:
        return max((workers for _, _, workers in self.samples), default=float("nan"))

    @property
    def total_peak(self) -> float:
        return max((rss + workers for _, rss, workers in self.samples), default=float("nan"))


# --- a browser-less visitor -----------------------------------------------------------------------------------

@dataclass
class Visit:
    """What one session saw, times in seconds from the moment it asked for the page (the rerun_script sent)."""

    query: str
    connected: float = float("nan")       # websocket open, from the start of the connection
    script_started: float = float("nan")  # new_session received
    first_chart: float = float("nan")     # first vega_lite_chart delta received
    finished: float = float("nan")        # script_finished received
    status: str = ""
    charts: int = 0
    exceptions: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)
    button_ids: list[str] = field(default_factory=list)
    error: str = ""                       # transport problem or timeout
    messages: int = 0
    bytes: int = 0
    cpu_seconds: float = float("nan")     # filled by callers that measure the server around the visit

    @property
    def script_seconds(self) -> float:
        """From the script's start (new_session) to its end (script_finished), as the client saw them."""
        return self.finished - self.script_started

    @property
    def complete(self) -> bool:
        return self.status == "FINISHED_SUCCESSFULLY" and not self.error

    @property
    def failed_notices(self) -> list[str]:
        """The page's own words for a computation that failed (app.py's "page.failed" / "page.data.unavailable")."""
        return [text for text in self.alerts if text in failure_texts()]

    @property
    def errors(self) -> int:
        return len(self.exceptions) + len(self.failed_notices) + (0 if self.complete else 1)

    def problems(self) -> list[str]:
        return self.exceptions + [f"notice: {text}" for text in self.failed_notices] + \
            ([self.error] if self.error else []) + ([] if self.complete or self.error else [f"status {self.status}"])

    def offers_run(self) -> bool:
        """The work budget's offer: the button keyed "run" (app.py) is on the page."""
        return any(ident.endswith("-run") or ident == "run" for ident in self.button_ids)


_FAILURE_TEXTS: set[str] = set()


def failure_texts() -> set[str]:
    """The page's notices for a failed computation, in both languages (from the measured checkout's catalogue)."""
    if not _FAILURE_TEXTS:
        from gradviz.page.i18n import LANGUAGES, Words
        _FAILURE_TEXTS.update(Words(lang)(key) for lang in LANGUAGES for key in ("page.failed", "page.data.unavailable"))
    return _FAILURE_TEXTS


def _protos():
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    return BackMsg, ClientState, ContextInfo, ForwardMsg


def rerun_message(server_url: str, query: str, locale: str = "en-US") -> bytes:
    """The browser's first message: run the main page with this query string (no widget states yet)."""
    BackMsg, ClientState, ContextInfo, _ = _protos()
    state = ClientState(query_string=query, page_script_hash="",
                        context_info=ContextInfo(locale=locale, timezone="UTC", timezone_offset=0,
                                                 url=f"{server_url}/?{query}", is_embedded=False,
                                                 color_scheme="light"))
    return BackMsg(rerun_script=state).SerializeToString()


async def visit_async(server: Server, query: str, timeout: float = 120.0, locale: str = "en-US",
                      on_message=None) -> Visit:
    """Open the page at ?query over the websocket and read until the script finishes (or `timeout`)."""
    from websockets.asyncio.client import connect

    _, _, _, ForwardMsg = _protos()
    names = {value: name for name, value in ForwardMsg.ScriptFinishedStatus.items()}
    result = Visit(query)
    begin = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with connect(server.ws_url, subprotocols=["streamlit"], max_size=None, compression=None,
                               open_timeout=timeout, ping_interval=None) as ws:
                result.connected = time.perf_counter() - begin
                start = time.perf_counter()
                await ws.send(rerun_message(server.url, query, locale))
                async for payload in ws:
                    now = time.perf_counter() - start
                    result.messages += 1
                    result.bytes += len(payload)
                    msg = ForwardMsg()
                    msg.ParseFromString(payload)
                    kind = msg.WhichOneof("type")
                    if on_message is not None:
                        on_message(now, msg)
                    if kind == "new_session":
                        if result.script_started != result.script_started:  # the first run's start only
                            result.script_started = now
                    elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                        element = msg.delta.new_element
                        which = element.WhichOneof("type")
                        if which == "vega_lite_chart":
                            result.charts += 1
                            if result.first_chart != result.first_chart:
                                result.first_chart = now
                        elif which == "exception":
                            result.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
                        elif which == "alert":
                            result.alerts.append(element.alert.body)
                        elif which == "button":
                            result.buttons.append(element.button.label)
                            result.button_ids.append(element.button.id)
                    elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
                        exc = msg.session_event.script_compilation_exception
                        result.exceptions.append(f"{exc.type}: {exc.message}"[:300])
                    elif kind == "script_finished":
                        status = names.get(msg.script_finished, str(msg.script_finished))
                        if status == "FINISHED_EARLY_FOR_RERUN":  # st.rerun(): the page goes on
                            continue
                        result.status, result.finished = status, now
                        break
    except TimeoutError:
        result.error = f"timed out after {timeout:g} s"
    except Exception as error:  # a transport problem is a failed visit, reported, never a crash of the check
        result.error = f"{type(error).__name__}: {error}"[:300]
    return result


def _in_own_loop(make):
    """asyncio.run(make()) in a thread of its own (callers may already run an event loop, e.g. Playwright's)."""
    out = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(make())), daemon=True)
    thread.start()
    thread.join()
    if not out:
        raise RuntimeError("the visit's event loop failed")
    return out[0]


def visit(server: Server, query: str, timeout: float = 120.0, locale: str = "en-US") -> Visit:
    return _in_own_loop(lambda: visit_async(server, query, timeout, locale))


def visit_many(server: Server, queries: list[str], timeout: float = 120.0) -> list[Visit]:
    """All the visits at once (one asyncio loop, one connection each)."""
    async def run():
        return await asyncio.gather(*(visit_async(server, q, timeout) for q in queries))
    return _in_own_loop(run)


@dataclass
class Fresh:
    """A visitor who opens the default page while the load runs: when it arrived (seconds into the load), how
    long the page's HTML took, and its visit of the default page over the websocket."""

    arrived: float
    html: float
    visit: Visit

    @property
    def page(self) -> float:
        """Seconds from asking for the page (the HTML's GET) to the complete page (script_finished)."""
        return self.html + self.visit.connected + self.visit.finished if self.visit.complete else float("inf")


def fetch_seconds(url: str, timeout: float) -> float:
    """Seconds to GET url and read its body (inf when it fails or times out)."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return float("inf")
    return time.perf_counter() - start


class HealthProbe(Periodic):
    """GETs /_stcore/health every `every` seconds while in the `with` block; .latencies in seconds (inf for a
    failed or timed-out probe)."""

    def __init__(self, server: Server, every: float = 0.5, timeout: float = 30.0):
        super().__init__(every)
        self.url, self.every, self.timeout = f"{server.url}/_stcore/health", every, timeout
        self.latencies: list[float] = []

    def sample(self) -> bool:
        self.latencies.append(fetch_seconds(self.url, self.timeout))
        return True


def visit_under_load(server: Server, queries: list[str], arrivals: tuple[float, ...], timeout: float = 120.0) \
        -> tuple[list[Visit], list[Fresh]]:
    """The queries' visits all at once, and a fresh visitor of the default page at each of `arrivals` seconds
    after they start (its HTML, then its websocket)."""
    async def fresh(delay: float) -> Fresh:
        await asyncio.sleep(delay)
        html = await asyncio.to_thread(fetch_seconds, f"{server.url}/", timeout)
        return Fresh(delay, html, await visit_async(server, "", timeout))

    async def run():
        return await asyncio.gather(asyncio.gather(*(visit_async(server, q, timeout) for q in queries)),
                                    asyncio.gather(*(fresh(delay) for delay in arrivals)))
    visits, fresh_visits = _in_own_loop(run)
    return list(visits), list(fresh_visits)


def measured_visits(server: Server, queries: list[str], timeout: float = 120.0, settle: float = 120.0) \
        -> tuple[list[Visit], float, float]:
    """(visits, server CPU-seconds from the request until the server is idle again, wall seconds of that)."""
    server.wait_idle(timeout=settle)
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    visits = visit_many(server, queries, timeout)
    server.wait_idle(timeout=settle)
    return visits, server.cpu_seconds() - cpu0, time.perf_counter() - t0


# --- the check ------------------------------------------------------------------------------------------------

def concurrent_queries(k: int, seed_base: int = 1000) -> list[str]:
    """K default-size settings, each new (a seed nobody asked for), spread over the sections."""
    out = []
    for i in range(k):
        section = SECTION_ROTATION[i % len(SECTION_ROTATION)]
        if section == "theory":  # its results do not depend on the seed: a remedy and a threshold instead
            out.append(f"section=theory&relu=1&clip=1&clip_threshold={2 + i}")
        elif section == "run":
            out.append("section=run&example=healthy&seed=" + str(seed_base + i))
        else:
            out.append(f"section={section}&seed={seed_base + i}")
    return out


def fmt(x: float, digits: int = 2) -> str:
    return "—" if x != x else f"{x:.{digits}f}"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def shipped_status() -> str:
    """Whether the shipped results load for the served checkout's code (else the page computes everything itself)."""
    from gradviz.page.precomputed import code_version, load_precomputed, neighbour_jobs
    loaded = len(load_precomputed())
    return (f"shipped results (gradviz/data/precomputed.pkl.gz): {loaded} of {len(neighbour_jobs())} jobs load"
            + ("" if loaded else f" — **none: the file is missing or was built from other code (code version "
                                 f"{code_version()})**; rebuild it with scripts/precompute.py"))


def heavy_estimate(query: str) -> float:
    """The page's own cost estimate (seconds) of the query's section, as it decides whether to offer "run"."""
    from gradviz.page.jobs import section_cost
    from gradviz.page.sections import SECTIONS
    from gradviz.page.settings import parse_url
    from gradviz.page.state import PageState
    values = parse_url([tuple(pair.split("=", 1)) for pair in query.split("&")]).values
    return section_cost(SECTIONS[values["section"]].jobs(PageState.of(values)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/load_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions (K)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the load when RSS is checked (60)")
    parser.add_argument("--after-ttl", type=float, default=150.0,
                        help="seconds after the load for a last RSS reading, past Streamlit's 120 s disconnectedSessionTTL "
                             "(0: skip)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a visit may take before it counts as failed")
    parser.add_argument("--heavy-timeout", type=float, default=30.0,
                        help="seconds a heaviest-URL visit waits (a page that computes instead of offering 'run' is "
                             "left then; the job board stops its job a few seconds later)")
    parser.add_argument("--same", metavar="QUERY", default=None,
                        help="every concurrent session opens this one query string (a class following the teacher's "
                             "link; '' is the default page) instead of a new setting each")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for the server only (e.g. MALLOC_ARENA_MAX=2)")
    args = parser.parse_args(argv)
    env = dict(os.environ, **dict(item.split("=", 1) for item in args.server_env))
    missed = []
    print(f"gradviz load check of {REPO}: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {args.sessions} concurrent browser-less sessions (Streamlit's websocket "
          f"protocol){'; server environment: ' + ', '.join(args.server_env) if args.server_env else ''}")
    print(f"{shipped_status()}\nload average (1, 5, 15 min) at the start: {load_text()}\n")
    with Server(env=env) as server:
        print(f"server pid {server.pid} on {server.url}, healthy after {server.started_in:.1f} s, "
              f"RSS {server.rss_mb():.0f} MB")

        # 1. the warm baselines: after the default page and its warm-up (issue 12's), and after one visit of every
        # section (the code paths and data files a server loads once: MNIST, the quadrature rules, …)
        first = visit(server, "", args.timeout)
        waited = server.wait_idle()
        baseline = server.rss_mb()
        print(f"first visit (default page, cold server): script {fmt(first.script_seconds)} s, "
              f"complete {fmt(first.finished)} s, {first.charts} charts, {first.errors} errors; "
              f"warm-up finished {waited:.1f} s later")
        print(f"warm baseline: RSS {baseline:.0f} MB (its {len(server.workers())} workers {server.workers_rss_mb():.0f} "
              f"MB more), CPU so far {server.cpu_seconds():.1f} s, {server.threads()} threads; load average {load_text()}")
        for query in SECTION_WARMERS:
            v = visit(server, query, args.timeout)
            server.wait_idle()
            if v.errors:
                print(f"  warming visit ?{query}: {'; '.join(v.problems())[:200]}")
        sections_baseline = server.rss_mb()
        print(f"after one visit of every section ({', '.join(f'?{q}' for q in SECTION_WARMERS)}): RSS "
              f"{sections_baseline:.0f} MB; load average {load_text()}\n")

        # 2. K concurrent sessions
        queries = concurrent_queries(args.sessions) if args.same is None else [args.same] * args.sessions
        peak_reset = server.reset_peak()
        cpu0, before = server.cpu_seconds(), server.rss_mb()
        with MemorySampler(server) as sampler:
            start = time.perf_counter()
            with HealthProbe(server) as health:
                visits, fresh = visit_under_load(server, queries, FRESH_ARRIVALS, args.timeout)
            wall = time.perf_counter() - start
            cpu_load = server.cpu_seconds() - cpu0
            after = server.rss_mb()
            threads_after = server.threads()
            peak_hwm = server.hwm_mb() if peak_reset else float("nan")
            load_after = load_text()
            time.sleep(max(0.0, args.settle - (time.perf_counter() - start - wall)))
            later = server.rss_mb()
        cpu_settle = server.cpu_seconds() - cpu0 - cpu_load
        peak = max(sampler.peak, peak_hwm if peak_hwm == peak_hwm else 0.0)
        print(f"## {args.sessions} concurrent sessions (load average at the end: {load_after})\n")
        print("| # | query | first chart (s) | complete (s) | script (s) | charts | errors | status |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for i, v in enumerate(visits, start=1):
            problems = "; ".join(v.problems())[:300] or "0"
            print(f"| {i} | `?{v.query}` | {fmt(v.first_chart)} | {fmt(v.finished)} | {fmt(v.script_seconds)} | "
                  f"{v.charts} | {problems} | {v.status or '—'} |")
        print(f"\nFresh visitors of the default page, arriving during the load (the HTML, then the websocket; "
              f"/_stcore/health asked every {health.every:g} s meanwhile):\n")
        print("| arrived (s into the load) | HTML (s) | websocket open (s) | page complete, from asking (s) | errors |")
        print("| --- | --- | --- | --- | --- |")
        for f in fresh:
            print(f"| {f.arrived:g} | {fmt(f.html)} | {fmt(f.visit.connected)} | {fmt(f.page)} | "
                  f"{'; '.join(f.visit.problems())[:200] or '0'} |")
        completes = [v.finished for v in visits]
        worst = max(completes) if all(c == c for c in completes) else float("inf")
        errors = sum(v.errors for v in visits) + sum(f.visit.errors for f in fresh)
        fresh_worst = max(f.page for f in fresh)
        health_worst = max(health.latencies, default=float("inf"))
        workers_hwm = server.workers_hwm_mb()
        print()
        print("| measure | value | target | met? |")
        print("| --- | --- | --- | --- |")
        rows = [
            ("slowest complete page", f"{fmt(worst)} s (median {fmt(statistics.median(completes))} s; all done "
             f"{wall:.1f} s after the start)", f"≤ {COMPLETE_TARGET_S:g} s", worst <= COMPLETE_TARGET_S),
            ("a fresh visitor's default page, from asking, slowest of "
             f"{len(fresh)} arriving {', '.join(f'{a:g}' for a in FRESH_ARRIVALS)} s into the load",
             f"{fmt(fresh_worst)} s (median {fmt(statistics.median(f.page for f in fresh))} s)",
             f"≤ {FRESH_TARGET_S:g} s", fresh_worst <= FRESH_TARGET_S),
            ("/_stcore/health during the load, slowest answer", f"{fmt(health_worst, 3)} s (median "
             f"{fmt(statistics.median(health.latencies), 3)} s, {len(health.latencies)} probes)",
             f"≤ {HEALTH_TARGET_S:g} s", health_worst <= HEALTH_TARGET_S),
            ("errors (exception elements, failure notices, failed or timed-out visits, fresh visitors' too)",
             str(errors), "0", errors == 0),
            ("server RSS before (warm baseline: the default page and its warm-up)", f"{baseline:.0f} MB", "—", None),
            ("server RSS before (every section visited once)", f"{before:.0f} MB", "—", None),
            ("server RSS peak", f"{peak:.0f} MB (sampled every 0.1 s {sampler.peak:.0f}, VmHWM {fmt(peak_hwm, 0)})",
             f"≤ {PEAK_TARGET_MB:g} MB", peak <= PEAK_TARGET_MB),
            ("workers' RSS peak (every worker process together)", f"{fmt(sampler.workers_peak, 0)} MB (each "
             f"live worker's VmHWM: {', '.join(f'{m:.0f}' for m in workers_hwm) or 'no workers'} MB)", "—", None),
            ("server and workers together, peak", f"{fmt(sampler.total_peak, 0)} MB",
             "≤ 690 MB (a free Community Cloud container)", sampler.total_peak <= 690),
            ("server RSS right after", f"{after:.0f} MB ({after / baseline:.2f}× the warm baseline; {threads_after} threads)",
             "—", None),
            (f"server RSS {args.settle:g} s after, against the warm baseline", f"{later:.0f} MB ({later / baseline:.2f}×)",
             f"≤ {RECOVERY_TARGET:g}× ({RECOVERY_TARGET * baseline:.0f} MB)", later <= RECOVERY_TARGET * baseline),
            (f"server RSS {args.settle:g} s after, against every section visited once", f"{later:.0f} MB "
             f"({later / before:.2f}×)", f"≤ {RECOVERY_TARGET:g}× ({RECOVERY_TARGET * before:.0f} MB)",
             later <= RECOVERY_TARGET * before),
            ("server CPU-seconds", f"{cpu_load:.1f} s during the load (+{cpu_settle:.1f} s in the next "
             f"{args.settle:g} s)", "—", None),
        ]
        for what, value, target, ok in rows:
            print(f"| {what} | {value} | {target} | {'—' if ok is None else verdict(ok)} |")
            if ok is False:
                missed.append(what)
        if args.after_ttl > args.settle:
            time.sleep(max(0.0, args.after_ttl - (time.perf_counter() - start - wall)))
            print(f"\nserver RSS {args.after_ttl:g} s after the load (past Streamlit's disconnectedSessionTTL of 120 s, "
                  f"when the closed sessions are gone): {server.rss_mb():.0f} MB ({server.rss_mb() / baseline:.2f}× the "
                  f"warm baseline, {server.rss_mb() / before:.2f}× every section visited once), {server.threads()} threads")

        # 3. the heaviest URLs
        print(f"\n## The heaviest URLs, one session each (load average {load_text()})\n")
        print(f"A session waits at most {args.heavy_timeout:g} s, then leaves (as a visitor closing the tab); the CPU "
              "is counted from its request until the server is idle again.\n")
        print("| query | estimate | page (s) | run offer | charts | server CPU-s until idle | target | met? |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for query in HEAVIEST:
            (v,), cpu, _ = measured_visits(server, [query], args.heavy_timeout)
            ok = cpu <= HEAVY_CPU_TARGET_S and not v.errors
            if not ok:
                missed.append(f"heaviest URL ?{query}")
            page = fmt(v.finished) if v.complete else f"— ({'; '.join(v.problems())[:80]})"
            print(f"| `?{query}` | {heavy_estimate(query):.1f} s | {page} | {'yes' if v.offers_run() else 'no'} | "
                  f"{v.charts} | {cpu:.2f} | ≤ {HEAVY_CPU_TARGET_S:g} s | {verdict(ok)} |")

        # 4. identical settings computed once
        print(f"\n## One uncached setting, one session vs two (load average {load_text()})\n")
        print("| sessions | queries | server CPU-s until idle | pages (s) |")
        print("| --- | --- | --- | --- |")
        cases = [("one", ["section=layers&seed=5001"]),
                 ("two, same setting", ["section=layers&seed=5002"] * 2),
                 ("two, different settings (control)", ["section=layers&seed=5003", "section=layers&seed=5004"])]
        costs = {}
        for name, qs in cases:
            vs, cpu, _ = measured_visits(server, qs, args.timeout)
            costs[name] = cpu
            print(f"| {name} | {', '.join(f'`?{q}`' for q in qs)} | {cpu:.2f} | "
                  f"{', '.join(fmt(v.finished) for v in vs)} |")
        ratio = costs["two, same setting"] / costs["one"]
        control = costs["two, different settings (control)"] / costs["one"]
        ok = ratio <= 1.3
        if not ok:
            missed.append("two sessions, one setting")
        print(f"\ntwo sessions with one setting cost {ratio:.2f}× one session (two different settings: {control:.2f}×); "
              f"target ≈ 1× (≤ 1.3×: each session still draws its own page): {verdict(ok)}")
        print(f"\nserver CPU-seconds in all: {server.cpu_seconds():.1f}; RSS at the end {server.rss_mb():.0f} MB; "
              f"load average (1, 5, 15 min) at the end: {load_text()}")
    print("\ntargets missed: " + (", ".join(missed) if missed else "none"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

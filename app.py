"""gradviz: the Streamlit page. Widgets come from the settings table, jobs run on the shared job board,
sections come back as blocks (gradviz.page.blocks) and each kind of block is one Streamlit call."""

from __future__ import annotations

import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from threadpoolctl import threadpool_limits

from gradviz.datasets import DataUnavailable
from gradviz.experiments.your_run import RunFileError, load_run
from gradviz.page import blocks as b
from gradviz.page import lesson
from gradviz.page.i18n import LANGUAGES, Words, language_of
from gradviz.page.heap import limit_arenas, release_memory
from gradviz.page.jobboard import JobBoard, default_workers
from gradviz.page.jobs import BUDGET_SECONDS, Job, Stream, section_cost, upload_cost
from gradviz.page.precomputed import load_precomputed, warm_views
from gradviz.page.sections import SECTIONS
from gradviz.page.sections import run as run_section
from gradviz.page.settings import (DEFAULTS, SETTINGS, SWITCHES, TABLE, encode_url, not_applied, not_here, parse_url,
                                   shown, step_view_key, switch_acts, view_key)
from gradviz.page.state import PageState
from gradviz.page.store import ByteStore
from gradviz.page.uploads import upload_limit_mb
from gradviz.page.views import prepare

# Measured bytes (arrays and frames); the process holds about 1.8× that (allocator slack, Python objects),
# so the two stores stay near 200 MB of resident memory at most.
RESULT_BYTES = 70 * 2**20
VIEW_BYTES = 40 * 2**20
POLL_SECONDS = 0.1
WARM_UP_DELAY = 5.0  # seconds between the first page sent and the warm-up's start
INLINE_SECONDS = 0.005  # jobs estimated below this run in the script thread (gradviz.page.jobboard)
SWITCH_WIDTHS = {"segmented": 2}  # a switch's share of a row of four: a choice of three takes two
NIELSEN_EN = "http://neuralnetworksanddeeplearning.com/chap5.html"
NIELSEN_ZH = "https://github.com/tigerneil/neural-networks-and-deep-learning-zh-cn/blob/master/chapter5.md"
ARTICLE = ("https://lovejing0306.github.io/2021/05/25/BasicKnowledge-%E6%A2%AF%E5%BA%A6%E6%B6%88%E5%A4%B1"
           "%E5%92%8C%E6%A2%AF%E5%BA%A6%E7%88%86%E7%82%B8/")
st.set_page_config(page_title="gradviz", layout="wide")


@st.cache_resource(on_release=lambda resources: resources[0].close())
def server() -> tuple[JobBoard, ByteStore]:
    """Once per server: the job board with a worker process per spare core (the computations run there, off this
    process's event loop), the shipped results of the default view and its neighbours, and the store of drawn
    views. The server's own numpy (drawing views) runs BLAS on one thread, with two malloc arenas. Clearing the
    cache ends the board's worker processes."""
    threadpool_limits(limits=1)
    limit_arenas(2)
    results = ByteStore(RESULT_BYTES)
    for key, value in load_precomputed().items():
        results.put(key, value)
    board = JobBoard(default_workers(), results, inline_below=INLINE_SECONDS)
    return board, ByteStore(VIEW_BYTES)


@st.cache_resource
def drawing() -> threading.Semaphore:
    """Once per server: one session at a time turns results into a view. Drawing is pure Python, so more at once
    is no faster, and fifty sessions drawing together kept the event loop (the websocket, /_stcore/health) from
    the GIL for seconds; a view already drawn is sent without waiting."""
    return threading.Semaphore(1)


@st.cache_resource
def warm_up() -> threading.Thread:
    """Once per server, a few seconds after the first page is sent (so it does not slow that page, which the first
    visitor's browser is drawing meanwhile): the lesson's steps and the first section for the default settings and
    their neighbours, in both languages, drawn in the background."""
    board, views = server()
    thread = threading.Thread(target=warm_views, args=(board.store, views), kwargs={"delay": WARM_UP_DELAY},
                              daemon=True)
    thread.start()
    return thread


def query_pairs() -> list[tuple[str, str]]:
    return [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]


def load_url_state() -> None:
    """On a session's first run, fill the controls from the URL and count what could not be used. On later
    runs, keep every setting: Streamlit forgets a widget's value when it is not drawn (another section's
    controls), so each value is written back as the session's own."""
    if "url_problems" in st.session_state:
        for name in DEFAULTS:
            if name in st.session_state:
                st.session_state[name] = st.session_state[name]
        return
    reading = parse_url(query_pairs())
    st.session_state.update(reading.values)
    raw = getattr(get_script_run_ctx(), "query_string", "") or ""
    st.session_state["url_dropped"] = bool(raw) and not query_pairs()
    # The address is written once on a session's first run, even if nothing changed: a query string Streamlit
    # dropped (past 1,000 fields) is still in the browser's address bar. The live server empties such a string
    # before the script can see it, so only the address is cleaned there; the notice shows where the script
    # is handed the raw string (AppTest).
    st.session_state["url_rewrite"] = True
    st.session_state["url_problems"] = reading.problems
    st.session_state["lang"] = reading.lang or language_of(st.context.locale)
    st.session_state["lang_in_url"] = reading.lang is not None


def save_url_state(values: dict) -> None:
    """Only what differs from the defaults, and the language once a visitor chose it, so a link reopens this view."""
    lang = st.session_state["lang"] if st.session_state.get("lang_in_url") else None
    wanted = encode_url(values, lang)
    if st.session_state.pop("url_rewrite", False) or wanted != dict(query_pairs()) or len(query_pairs()) != len(wanted):
        st.query_params.from_dict(wanted)


def choose_language(words: Words) -> Words:
    options = list(LANGUAGES)
    st.segmented_control(words("page.language"), options, key="lang", format_func={"en": "English", "zh": "中文"}.get,
                         on_change=lambda: st.session_state.update(lang_in_url=True), label_visibility="collapsed")
    if st.session_state.get("lang") not in LANGUAGES:
        st.session_state["lang"] = "en"
    return Words(st.session_state["lang"])


def view_of(values: dict) -> str:
    """What the page shows: "lesson", or the section's name."""
    return "lesson" if values["lesson"] else str(values["section"])


def why_not(switch: str, values: dict, words: Words) -> str:
    """Why a switch does not act on the view shown, in one line (the registry's reasons, in a section)."""
    if values["lesson"]:
        return words("lesson.not_here", reason=words("lesson.not_here.training"))
    return words("page.not_here", reason=" ".join(words(key) for key in not_here(switch, values["section"])))


def control(setting, words: Words, where, disabled: bool = False, reason: str | None = None) -> None:
    """The widget of one settings row, keyed by its URL name; a disabled one says why in its help."""
    label, help_text = words(setting.label_key), words(setting.help_key)
    if reason:
        help_text = f"{reason}\n\n{help_text}"
    kind = setting.widget
    if kind == "toggle":
        where.toggle(label, key=setting.name, help=help_text, disabled=disabled)
    elif kind == "number":
        step = setting.step if setting.step is not None else (1 if setting.kind == "int" else None)
        where.number_input(label, min_value=setting.low, max_value=setting.high, step=step, format=setting.fmt,
                           key=setting.name, help=help_text)
    elif kind == "slider":
        where.slider(label, setting.low, setting.high, step=setting.step, key=setting.name, help=help_text)
    elif kind in ("radio", "select", "segmented"):
        option = {"choice": setting.choices}["choice"]
        fmt = (lambda v: words(f"page.section.{v}")) if setting.name == "section" else \
            (lambda v: words(setting.choice_key(v)))
        if kind == "radio":
            where.radio(label, option, key=setting.name, help=help_text, format_func=fmt, horizontal=True)
        elif kind == "select":
            where.selectbox(label, option, key=setting.name, help=help_text, format_func=fmt)
        else:
            where.segmented_control(label, option, key=setting.name, help=help_text, format_func=fmt,
                                    selection_mode="single", required=True, disabled=disabled)


def start_step() -> None:
    """The lesson's step changed: every switch off, as in the article, except the remedy of a step whose
    question was answered (the answer switched it on)."""
    step = lesson.step_of(st.session_state["step"])
    for switch in lesson.SWITCHES:
        st.session_state[switch] = step.remedy == switch and st.session_state.get(f"answer_{step.name}") is not None


def go_to_step(number: int) -> None:
    st.session_state["step"] = number
    start_step()


def mode_switch(words: Words) -> None:
    st.segmented_control(words("lesson.mode"), [True, False], key="lesson", selection_mode="single", required=True,
                         format_func=lambda v: words("lesson.mode.lesson" if v else "lesson.mode.everything"),
                         help=words("lesson.mode.help"), label_visibility="collapsed")


def step_picker(words: Words) -> None:
    st.selectbox(words("lesson.step"), list(range(1, lesson.N_STEPS + 1)), key="step", on_change=start_step,
                 format_func=lambda k: words("lesson.step.of", n=k, total=lesson.N_STEPS) + " · "
                 + words(f"lesson.{lesson.step_of(k).name}.title"), label_visibility="collapsed")


def beyond_article() -> tuple[str, ...]:
    """The switches of the remedies that came after the article (skip connections, normalization)."""
    return tuple(switch for switch in SWITCHES if switch not in lesson.SWITCHES)


def switch_columns(row: tuple[str, ...]) -> list:
    """A row of switches on a grid of four shares (a choice of three takes two), the rest left empty."""
    widths = [SWITCH_WIDTHS.get(SETTINGS[switch].widget, 1) for switch in row]
    spare = len(lesson.SWITCHES) - sum(widths)
    return st.columns(widths + ([spare] if spare > 0 else []))


def controls(words: Words) -> dict:
    """Every control from the settings table: the view (the lesson's step, or a section) and the remedy switches on
    top — greyed, with the reason, where they do not act: the article's four, and under them (not in the lesson)
    those that came after it — and the rest in the sidebar."""
    mode, view_picker = st.columns([2, 3], vertical_alignment="bottom")
    with mode:
        mode_switch(words)
    values = {name: st.session_state.get(name, default) for name, default in DEFAULTS.items()}
    if values["lesson"]:
        with view_picker:
            step_picker(words)
    else:
        control(SETTINGS["section"], words, st)
    view, step = view_of(values), int(values["step"])
    rows = [lesson.SWITCHES] if values["lesson"] else [lesson.SWITCHES, beyond_article()]
    for row in rows:
        for column, switch in zip(switch_columns(row), row):
            acts = switch_acts(switch, view, step)
            control(SETTINGS[switch], words, column, disabled=not acts,
                    reason=None if acts else why_not(switch, values, words))
    groups: dict[str, list] = {}
    for setting in TABLE:
        if setting.place not in ("top", "panel"):
            groups.setdefault(setting.place, []).append(setting)
    for group, settings in groups.items():
        visible = [s for s in settings if shown(s, values)]
        if visible:
            st.sidebar.subheader(words(f"settings.group.{group}"))
            for setting in visible:
                control(setting, words, st.sidebar)
    return {name: st.session_state.get(name, default) for name, default in DEFAULTS.items()}


def draw(block) -> None:
    """One block, one Streamlit call."""
    if isinstance(block, b.Heading):
        (st.header if block.level == 2 else st.subheader)(block.text)
    elif isinstance(block, b.Text):
        st.markdown(block.markdown)
    elif isinstance(block, b.Caption):
        st.caption(block.text)
    elif isinstance(block, b.Latex):
        st.latex(block.tex)
    elif isinstance(block, b.Metric):
        st.metric(block.label, block.value, help=block.help)
    elif isinstance(block, b.Metrics):
        for start in range(0, len(block.items), block.per_row):
            row = block.items[start:start + block.per_row]
            for column, metric in zip(st.columns(block.per_row if len(block.items) > block.per_row else len(row)), row):
                with column:
                    draw(metric)
    elif isinstance(block, b.Chart):
        if block.note:
            st.caption(block.note)
        st.vega_lite_chart(spec=block.spec, width="stretch", theme=None)
    elif isinstance(block, b.Notice):
        {"info": st.info, "warning": st.warning, "error": st.error}[block.kind](block.text)
    elif isinstance(block, b.Columns):
        for column, blocks in zip(st.columns(block.widths or len(block.columns), gap="large"), block.columns):
            with column:
                draw_all(blocks)
    elif isinstance(block, b.Expander):
        with st.expander(block.label, expanded=block.expanded):
            draw_all(block.blocks)
    elif isinstance(block, b.Download):
        st.download_button(block.label, block.make, file_name=block.file_name, mime="text/csv", on_click="ignore",
                           key=block.file_name)
    elif isinstance(block, b.Code):
        st.code(block.text, language=block.language)
    elif isinstance(block, b.Checklist):
        st.markdown(f":{block.verdict_color}-background[{block.verdict}]")
        st.table(block.table, hide_index=True)
        with st.expander(block.evidence_label):
            st.markdown("\n".join(f"- {line}" for line in block.evidence))
        if block.unchecked:
            st.caption(block.unchecked)


def draw_all(blocks) -> None:
    for block in blocks:
        draw(block)


def wait_for(tasks: dict, board: JobBoard, words: Words, what: str) -> None:
    """Touch the section's tasks until they are done, with their progress at the top of the section."""
    status, shown = st.empty(), None
    while not all(task.done for task in tasks.values()):
        for task in tasks.values():
            task.touch()
        waiting = [t for t in tasks.values() if t.state == "queued"]
        running = [t for t in tasks.values() if t.state == "running"]
        wanted = None
        if running:
            fraction = round(min(1.0, max(t.fraction for t in running)), 2)
            wanted = fraction, words("page.budget.running", what=what, percent=f"{fraction:.0%}")
        elif waiting:
            wanted = 0.0, words("page.budget.queued", ahead=min(board.ahead(t) for t in waiting))
        if wanted is not None and wanted != shown:  # a message to the browser only when the bar changes
            status.progress(wanted[0], text=wanted[1])
            shown = wanted
        time.sleep(POLL_SECONDS)
    status.empty()


def seconds_text(seconds: float, words: Words) -> str:
    if seconds < 90:
        return words("page.budget.seconds", value=f"{seconds:.0f}")
    return words("page.budget.minutes", value=f"{seconds / 60:.0f}")


def read_upload(upload, words: Words):
    """The upload read on the job board (in a worker, queued with every visitor's jobs, its progress shown): a
    RunFile, a RunFileError, or None when the read failed otherwise. Streamlit's UploadedFile is a BytesIO sharing
    the upload's bytes until written to, so getvalue() hands back those very bytes (getbuffer() would copy them);
    the Stream is a view of them, sent to the worker in chunks as it reads."""
    board, _ = server()
    stream = Stream.of(upload.getvalue())
    task = board.request(Job(load_run, (stream,), "jobs.upload", upload_cost(stream.size), private=True))
    wait_for({"upload": task}, board, words, words("jobs.upload"))
    if task.state == "done":
        return task.result
    return task.error if isinstance(task.error, RunFileError) else None


def your_run(state: PageState, words: Words) -> bool:
    """The upload of section 6, read for this session only (never the shared stores, never the disk);
    True when an upload was drawn, so the shipped example is not."""
    draw_all(run_section.head(words))
    usual = st.get_option("server.maxUploadSize")
    limit = upload_limit_mb(usual)
    if limit < usual:
        st.warning(words("page.upload.disk", limit=limit, usual=usual))
    # Any file: the reader tells the format from the contents, and TensorBoard's events.out.tfevents.<time>.<host>
    # has no extension a type list could name.
    upload = st.file_uploader(words("run.upload"), type=None, key="upload", help=words("run.upload.help"),
                              max_upload_size=limit)
    if upload is None:
        return False
    if st.session_state.get("upload_key") != (upload.file_id, words.lang):
        result = read_upload(upload, words)
        if result is None:
            st.warning(words("page.failed"))
            return True
        st.session_state["upload_view"] = prepare(run_section.body({"run": result, "source": "upload"}, words))
        st.session_state["upload_key"] = (upload.file_id, words.lang)
    draw_all(st.session_state["upload_view"])
    return True


def computed(name: str, jobs: dict, what: str, state: PageState, words: Words) -> dict | None:
    """The jobs' results, computed on the job board with their progress shown; None when the page said why not
    (over the budget, with a button to run anyway; a failed job)."""
    board, _ = server()
    cost = section_cost({k: j for k, j in jobs.items() if j.key not in board.store})
    approved = st.session_state.get("approved") == (name, state.values)
    if cost > BUDGET_SECONDS and not approved:
        st.info(words("page.budget.offer", seconds=seconds_text(cost, words), what=what,
                      budget=seconds_text(BUDGET_SECONDS, words)))
        if st.button(words("page.budget.run"), key="run"):
            st.session_state["approved"] = (name, state.values)
            st.rerun()
        return None
    tasks = {key: board.request(job) for key, job in jobs.items()}
    fresh = not all(task.done for task in tasks.values())
    wait_for(tasks, board, words, what)
    if fresh:
        release_memory()
    failed = [t for t in tasks.values() if t.state == "failed"]
    if failed:
        key = "page.data.unavailable" if any(isinstance(t.error, DataUnavailable) for t in failed) else "page.failed"
        st.warning(words(key))
        return None
    return {key: task.result for key, task in tasks.items()}


def cached_view(key: tuple, name: str, jobs: dict, what: str, render, state: PageState, words: Words) -> tuple | None:
    """A drawn view from the store, or computed (its jobs on the board) and kept; None when the page said why not."""
    _, views = server()
    view = views.get(key)
    if view is None:
        results = computed(name, jobs, what, state, words)
        if results is None:
            return None
        with drawing():
            view = prepare(render(results))
        views.put(key, view)
    return view


def show_section(name: str, state: PageState, words: Words) -> None:
    if name == "run" and your_run(state, words):
        return
    for switch, reasons in not_applied(state.remedies, name):
        st.info(words("page.not_applied", remedy=words(SETTINGS[switch].label_key),
                      reason=" ".join(words(reason) for reason in reasons)))
    section = SECTIONS[name]
    key = view_key(name, dict(state.values), words.lang)
    if name == "run":
        render = lambda results: run_section.body({"run": results["example"], "source": "example"}, words)
    else:
        render = lambda results: section.render(state, results, words)
    view = cached_view(key, name, section.jobs(state), words(section.what), render, state, words)
    if view is None:
        return
    draw_all(view)
    if section.training_jobs is not None:
        st.divider()
        control(SETTINGS["train"], words, st)
        if st.session_state.get("train"):
            view = cached_view(("training",) + key, name, section.training_jobs(state), words(section.what),
                               lambda results: section.render_training(state, results, words), state, words)
            if view is not None:
                draw_all(view)


def question(step: lesson.Step, words: Words) -> str | None:
    """A remedy step's question, answered before its charts are drawn; the answer switches the remedy on."""
    return st.radio(words(f"lesson.{step.name}.question"), step.options, index=None, key=f"answer_{step.name}",
                    format_func=lambda option: words(f"lesson.{step.name}.option.{option}"),
                    on_change=lambda: st.session_state.update({step.remedy: True}))


def navigation(number: int, words: Words) -> None:
    back, _, forward = st.columns([1, 3, 1])
    back.button(words("lesson.back"), key="back", disabled=number == 1, on_click=go_to_step, args=(number - 1,),
                width="stretch")
    forward.button(words("lesson.next"), key="next", disabled=number == lesson.N_STEPS, on_click=go_to_step,
                   args=(number + 1,), width="stretch", type="primary")


def show_step(number: int, state: PageState, words: Words) -> None:
    """One step of the lesson: its idea, its question if it has one, then its charts and what they say."""
    step = lesson.step_of(number)
    st.header(f"{number} · {words(f'lesson.{step.name}.title')}")
    if number == 1:
        st.markdown(words("lesson.intro", nielsen_en=NIELSEN_EN, nielsen_zh=NIELSEN_ZH, article=ARTICLE))
    answer = None
    if step.remedy is not None:
        draw_all(lesson.idea(step, state, words))
        answer = question(step, words)
    if step.remedy is None or answer is not None:
        key = step_view_key(number, dict(state.values), words.lang, answer)
        view = cached_view(key, f"step {step.name}", step.jobs(state), words(SECTIONS[step.section].what),
                           lambda results: lesson.render(step, state, results, words, answer), state, words)
        if view is None:
            return
        draw_all(view)
    navigation(number, words)


def main() -> None:
    load_url_state()
    words = Words(st.session_state["lang"])
    title, language = st.columns([5, 1], vertical_alignment="bottom")
    with language:
        words = choose_language(words)
    with title:
        st.title(words("page.title"))
    if st.session_state["url_dropped"]:
        st.warning(words("page.url.dropped"))
    elif st.session_state["url_problems"]:
        st.warning(words("page.url.notice", count=st.session_state["url_problems"]))
    values = controls(words)
    save_url_state(values)
    state = PageState.of(values)
    if values["lesson"]:
        show_step(int(values["step"]), state, words)
    else:
        st.markdown(words("page.intro", nielsen_en=NIELSEN_EN, nielsen_zh=NIELSEN_ZH, article=ARTICLE))
        show_section(values["section"], state, words)
    warm_up()


main()
